package org.brainedge.demo

import android.os.SystemClock
import java.io.Closeable
import java.nio.ByteBuffer
import java.nio.ByteOrder
import org.brainedge.core.BrainEdgeException
import org.brainedge.core.ClassMap
import org.brainedge.core.InputTensor
import org.brainedge.core.Outputs
import org.brainedge.core.Postprocessor
import org.brainedge.core.Prediction
import org.brainedge.core.Preprocessor
import org.brainedge.core.Quantization
import org.brainedge.core.RgbImage
import org.brainedge.core.TensorInfo
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.Tensor

/**
 * The bundle's model in a LiteRT interpreter, fed and read by brainedge-core exactly as the
 * Python runtime does. Refuses a model whose tensors disagree with metadata.json.
 *
 * A schema 2 bundle's model ends at its feature map: the output buffer holds that map, and the
 * bundle's head (brainedge-core's Head) pools it and gives the calibrated probabilities and the
 * out-of-distribution score.
 */
class LiteRtClassifier(bundle: LoadedBundle, val threads: Int) : Closeable {
    val metadata = bundle.metadata
    private val head = bundle.head
    private val interpreter: Interpreter
    private val input: ByteBuffer
    private val output: ByteBuffer

    init {
        val model = ByteBuffer.allocateDirect(bundle.model.size).order(ByteOrder.nativeOrder())
        model.put(bundle.model).rewind()
        interpreter = try {
            Interpreter(model, Interpreter.Options().setNumThreads(threads))
        } catch (error: RuntimeException) { // LiteRT reports a bad model as IllegalArgument/IllegalState
            throw BrainEdgeException("${metadata.modelFile}: not a loadable TFLite model (${error.message})")
        }
        try {
            if (interpreter.inputTensorCount != 1 || interpreter.outputTensorCount != 1) {
                throw BrainEdgeException("expected one input and one output tensor, got " +
                    "${interpreter.inputTensorCount} and ${interpreter.outputTensorCount}")
            }
            val outputInfo = describe(interpreter.getOutputTensor(0))
            TensorInfo.checkModelMatches(describe(interpreter.getInputTensor(0)), outputInfo, metadata)
            input = ByteBuffer.allocateDirect(interpreter.getInputTensor(0).numBytes()).order(ByteOrder.nativeOrder())
            // Sized from the output tensor's shape: the class scores, or a head bundle's whole feature map.
            output = ByteBuffer.allocateDirect(outputInfo.byteCount()).order(ByteOrder.nativeOrder())
        } catch (error: Throwable) { // whatever fails after the interpreter exists, it is closed
            interpreter.close()
            throw when (error) {
                is BrainEdgeException -> BrainEdgeException("${metadata.modelFile}: ${error.message}")
                is RuntimeException -> BrainEdgeException("${metadata.modelFile}: ${error.javaClass.simpleName}: ${error.message}")
                else -> error
            }
        }
    }

    fun preprocess(image: RgbImage): InputTensor = Preprocessor.toInputTensor(image, metadata.input)

    /**
     * One inference: the tensor in, the outputs of the model (dequantized, softmax where needed)
     * and, for a bundle with a head, of its head (calibrated probabilities, OOD score).
     */
    fun infer(tensor: InputTensor): Outputs {
        input.clear()
        tensor.writeTo(input)
        input.rewind()
        output.clear()
        interpreter.run(input, output)
        output.rewind()
        return Postprocessor.outputs(output, metadata, head)
    }

    /** One inference's class probabilities (the benchmark times this). */
    fun probabilities(tensor: InputTensor): FloatArray = infer(tensor).probabilities

    fun rank(outputs: Outputs, topK: Int): Prediction =
        Postprocessor.rank(outputs, metadata.classNames, topK, metadata.confidenceThreshold)

    /**
     * Whether the bundle can show where the model looked: its head has one dense layer, so the
     * class-activation map is exact (a head with hidden layers, or no head, draws none).
     */
    val drawsClassMaps: Boolean = head?.drawsClassMaps() == true

    /** Classify a decoded image, timing each stage. */
    fun classify(image: RgbImage, topK: Int): Timed<Prediction> {
        val answer = answer(image, topK, explain = false)
        return Timed(answer.value.prediction, answer.stagesMs)
    }

    /**
     * [classify], and with [explain] (where [drawsClassMaps]) the class-activation map of the best
     * class from the same inference's feature map, as Python's `classify(image, explain=True)`.
     */
    fun answer(image: RgbImage, topK: Int, explain: Boolean): Timed<Answer> {
        val start = SystemClock.elapsedRealtimeNanos()
        val tensor = preprocess(image)
        val preprocessed = SystemClock.elapsedRealtimeNanos()
        val outputs = infer(tensor)
        val inferred = SystemClock.elapsedRealtimeNanos()
        val prediction = rank(outputs, topK)
        val ranked = SystemClock.elapsedRealtimeNanos()
        val stages = linkedMapOf(
            "preprocess" to millis(start, preprocessed),
            "inference" to millis(preprocessed, inferred),
            "postprocess" to millis(inferred, ranked),
        )
        val loadedHead = head
        if (!explain || loadedHead == null || !loadedHead.drawsClassMaps()) {
            return Timed(Answer(prediction, null), stages)
        }
        // The output buffer still holds this inference's feature map: no second run.
        val featureMap = Postprocessor.featureMap(output, metadata.output, loadedHead.spec().featureMapSize())
        val classMap = loadedHead.classMap(featureMap, prediction.best().index)
        stages["class map"] = millis(ranked, SystemClock.elapsedRealtimeNanos())
        return Timed(Answer(prediction, classMap), stages)
    }

    override fun close() = interpreter.close()

    private fun describe(tensor: Tensor): TensorInfo {
        val params = tensor.quantizationParams()
        val quantization = if (params.scale == 0f) null else Quantization(params.scale.toDouble(), params.zeroPoint)
        return TensorInfo(tensor.shape(), dtypeName(tensor.dataType()), quantization)
    }

    private fun dtypeName(type: DataType): String = when (type) {
        DataType.FLOAT32 -> "float32"
        DataType.UINT8 -> "uint8"
        DataType.INT8 -> "int8"
        else -> type.name.lowercase()
    }
}

/** One image's prediction and, when asked for and the bundle draws them, the best class's map. */
class Answer(val prediction: Prediction, val classMap: ClassMap?)

/** A result and the milliseconds each named stage took. */
class Timed<T>(val value: T, val stagesMs: Map<String, Double>)

fun millis(startNanos: Long, endNanos: Long): Double = (endNanos - startNanos) / 1e6
