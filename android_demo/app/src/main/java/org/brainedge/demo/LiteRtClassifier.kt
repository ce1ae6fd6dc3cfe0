package org.brainedge.demo

import android.os.SystemClock
import java.io.Closeable
import java.nio.ByteBuffer
import java.nio.ByteOrder
import org.brainedge.core.BrainEdgeException
import org.brainedge.core.InputTensor
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
 */
class LiteRtClassifier(bundle: LoadedBundle, val threads: Int) : Closeable {
    val metadata = bundle.metadata
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
            TensorInfo.checkModelMatches(describe(interpreter.getInputTensor(0)),
                describe(interpreter.getOutputTensor(0)), metadata)
            input = ByteBuffer.allocateDirect(interpreter.getInputTensor(0).numBytes()).order(ByteOrder.nativeOrder())
            output = ByteBuffer.allocateDirect(interpreter.getOutputTensor(0).numBytes()).order(ByteOrder.nativeOrder())
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

    /** One inference: the tensor in, class probabilities out (dequantized, softmax where needed). */
    fun probabilities(tensor: InputTensor): FloatArray {
        input.clear()
        tensor.writeTo(input)
        input.rewind()
        output.clear()
        interpreter.run(input, output)
        output.rewind()
        return Postprocessor.probabilities(output, metadata.output)
    }

    fun rank(probabilities: FloatArray, topK: Int): Prediction =
        Postprocessor.rank(probabilities, metadata.classNames, topK, metadata.confidenceThreshold)

    /** Classify a decoded image, timing each stage. */
    fun classify(image: RgbImage, topK: Int): Timed<Prediction> {
        val start = SystemClock.elapsedRealtimeNanos()
        val tensor = preprocess(image)
        val preprocessed = SystemClock.elapsedRealtimeNanos()
        val probabilities = probabilities(tensor)
        val inferred = SystemClock.elapsedRealtimeNanos()
        val prediction = rank(probabilities, topK)
        val ranked = SystemClock.elapsedRealtimeNanos()
        return Timed(prediction, mapOf(
            "preprocess" to millis(start, preprocessed),
            "inference" to millis(preprocessed, inferred),
            "postprocess" to millis(inferred, ranked),
        ))
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

/** A result and the milliseconds each named stage took. */
class Timed<T>(val value: T, val stagesMs: Map<String, Double>)

fun millis(startNanos: Long, endNanos: Long): Double = (endNanos - startNanos) / 1e6
