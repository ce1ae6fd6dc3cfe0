package org.brainedge.demo

import android.content.ActivityNotFoundException
import android.content.Intent
import android.graphics.Bitmap
import android.graphics.Color
import android.net.Uri
import android.os.Bundle
import android.os.SystemClock
import android.view.View
import android.widget.Button
import android.widget.CompoundButton
import android.widget.ImageView
import android.widget.TextView
import androidx.activity.result.contract.ActivityResultContracts
import androidx.appcompat.app.AppCompatActivity
import androidx.core.content.FileProvider
import java.io.File
import java.util.Locale
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import org.brainedge.core.BrainEdgeException
import org.brainedge.core.ClassMap
import org.brainedge.core.Prediction

/**
 * Pick or take an image, classify it with the bundled model, show top-k, uncertainty and timings.
 * An image the bundle does not recognise (out of distribution) gets no diagnosis at all. "Show where
 * it looked" swaps the image for its class-activation overlay (brainedge-core's ClassMap: viridis at
 * 45%, as the Python runtime's `--explain` draws it) when the bundle's head has one dense layer.
 *
 * Nothing here may end the process: unreadable images, a missing camera app and a bad bundle all
 * become messages on screen. The capture URI and an image not yet classified survive the process
 * being killed while the camera app is open; an image that arrives while the model is still
 * loading is classified as soon as it has loaded.
 */
class MainActivity : AppCompatActivity() {
    private val worker: ExecutorService = Executors.newSingleThreadExecutor()
    /** Written on the worker thread, read on the UI thread. */
    @Volatile private var classifier: LiteRtClassifier? = null
    @Volatile private var destroyed = false
    private var captureUri: Uri? = null
    /** An image waiting for the model (chosen while it loads, or restored after process death). */
    private var pendingUri: Uri? = null
    /** The image shown, and the same pixels with the best class's map over them (null: no map). */
    private var shown: Shown? = null

    private val pickImage = registerForActivityResult(ActivityResultContracts.GetContent()) { uri ->
        uri?.let(::classifyWhenReady)
    }
    private val takePhoto = registerForActivityResult(ActivityResultContracts.TakePicture()) { saved ->
        val uri = captureUri
        if (saved && uri != null) classifyWhenReady(uri)
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        layOutEdgeToEdge(findViewById(R.id.root))
        captureUri = savedInstanceState?.getString(KEY_CAPTURE_URI)?.let(Uri::parse)
        pendingUri = savedInstanceState?.getString(KEY_PENDING_URI)?.let(Uri::parse)
        findViewById<Button>(R.id.pick_image).setOnClickListener { launchPicker() }
        findViewById<Button>(R.id.take_photo).setOnClickListener { launchCamera() }
        findViewById<Button>(R.id.open_benchmark).setOnClickListener {
            startActivity(Intent(this, BenchmarkActivity::class.java))
        }
        findViewById<CompoundButton>(R.id.show_class_map).setOnCheckedChangeListener { _, _ -> showImage() }
        worker.execute(::loadClassifier)
    }

    override fun onSaveInstanceState(outState: Bundle) {
        super.onSaveInstanceState(outState)
        captureUri?.let { outState.putString(KEY_CAPTURE_URI, it.toString()) }
        pendingUri?.let { outState.putString(KEY_PENDING_URI, it.toString()) }
    }

    override fun onDestroy() {
        destroyed = true
        worker.execute { classifier?.close(); classifier = null }
        worker.shutdown()
        super.onDestroy()
    }

    /** Load and verify the bundle off the UI thread; any problem becomes the error screen. */
    private fun loadClassifier() {
        val loaded = try {
            LiteRtClassifier(BundleAssets.load(assets), threads = DEFAULT_THREADS)
        } catch (error: BrainEdgeException) {
            ui { showError(error.message ?: "unknown problem") }
            return
        } catch (error: RuntimeException) { // LiteRT's native layer: never crash, say what happened
            ui { showError("${error.javaClass.simpleName}: ${error.message}") }
            return
        } catch (error: OutOfMemoryError) {
            ui { showError("the model does not fit in this phone's memory") }
            return
        }
        if (destroyed) {
            loaded.close()
            return
        }
        classifier = loaded
        ui {
            showReady(loaded)
            pendingUri?.let(::classify)
        }
    }

    private fun showReady(loaded: LiteRtClassifier) {
        val m = loaded.metadata
        val quantization = m.input.quantization?.let { " q(scale=${it.scale}, zp=${it.zeroPoint})" } ?: ""
        val calibration = m.calibration?.let { " · temperature ${it.temperature}" } ?: ""
        val ood = m.outOfDistribution?.let { " · OOD threshold ${it.threshold}" } ?: ""
        findViewById<TextView>(R.id.bundle_info).text = getString(R.string.app_name) +
            " · ${m.variant} · input ${m.input.height}x${m.input.width} ${m.input.dtype}$quantization" +
            " · ${m.classNames.size} classes · threshold ${m.confidenceThreshold}$calibration$ood"
        listOf(R.id.pick_image, R.id.take_photo, R.id.open_benchmark).forEach { findViewById<Button>(it).isEnabled = true }
        val showMap = findViewById<CompoundButton>(R.id.show_class_map)
        showMap.isEnabled = loaded.drawsClassMaps
        if (!loaded.drawsClassMaps) showMap.isChecked = false
        showImage()
    }

    /**
     * The image, or its overlay when the switch is on and the bundle drew a map; beneath it, whose map
     * the overlay is, or why this bundle draws none.
     */
    private fun showImage() {
        val current = shown
        val overlay = current?.overlay
        val mapShown = overlay != null && findViewById<CompoundButton>(R.id.show_class_map).isChecked
        if (current != null) {
            findViewById<ImageView>(R.id.preview).setImageBitmap(if (mapShown) overlay else current.image)
        }
        val caption = when {
            classifier?.drawsClassMaps == false -> getString(R.string.class_map_unavailable)
            mapShown -> current?.caption
            else -> null
        }
        val view = findViewById<TextView>(R.id.class_map_caption)
        view.text = caption ?: ""
        view.visibility = if (caption == null) View.GONE else View.VISIBLE
    }

    /** What the overlay shows, in words: the class whose map it is, or that the image spoke for none. */
    private fun captionFor(prediction: Prediction, map: ClassMap): String {
        val label = prediction.best().label
        return when {
            prediction.notRecognised() -> getString(R.string.class_map_not_recognised, label)
            map.isEmpty() -> getString(R.string.class_map_empty, label)
            else -> getString(R.string.class_map_caption, label)
        }
    }

    private fun showError(message: String) {
        findViewById<View>(R.id.content).visibility = View.GONE
        findViewById<View>(R.id.error_panel).visibility = View.VISIBLE
        findViewById<TextView>(R.id.error_message).text = message
    }

    private fun launchPicker() {
        try {
            pickImage.launch("image/*")
        } catch (missing: ActivityNotFoundException) {
            showImageProblem(getString(R.string.no_gallery_app))
        }
    }

    private fun launchCamera() {
        val uri = try {
            val file = File(cacheDir, "captures/capture.jpg").apply { parentFile?.mkdirs() }
            FileProvider.getUriForFile(this, "$packageName.files", file)
        } catch (error: IllegalArgumentException) { // the FileProvider paths do not cover the file
            showImageProblem("cannot prepare a file for the photo: ${error.message}")
            return
        }
        captureUri = uri
        try {
            takePhoto.launch(uri)
        } catch (missing: ActivityNotFoundException) { // no camera app: tablets, emulators, disabled camera
            showImageProblem(getString(R.string.no_camera_app))
        }
    }

    private fun classifyWhenReady(uri: Uri) {
        pendingUri = uri
        if (classifier == null) {
            findViewById<TextView>(R.id.headline).text = getString(R.string.waiting_for_model)
        } else {
            classify(uri)
        }
    }

    private fun classify(uri: Uri) {
        val loaded = classifier ?: return
        pendingUri = uri
        findViewById<TextView>(R.id.headline).text = "…"
        worker.execute {
            try {
                val start = SystemClock.elapsedRealtimeNanos()
                val image = ImageDecoding.decode(uri.toString()) { contentResolver.openInputStream(uri) }
                val decodeMs = millis(start, SystemClock.elapsedRealtimeNanos())
                val result = loaded.answer(image, topK = TOP_K, explain = loaded.drawsClassMaps)
                val pixels = ImageDecoding.previewPixels(image)
                val map = result.value.classMap
                val overlayStart = SystemClock.elapsedRealtimeNanos()
                val overlay = map?.let { Pixels(it.overlay(pixels.argb, pixels.width, pixels.height), pixels.width, pixels.height) }
                val stages = linkedMapOf("decode" to decodeMs) + result.stagesMs +
                    (if (overlay == null) emptyMap() else mapOf("overlay" to millis(overlayStart, SystemClock.elapsedRealtimeNanos())))
                val next = Shown(pixels.toBitmap(), overlay?.toBitmap(), map?.let { captionFor(result.value.prediction, it) })
                ui {
                    pendingUri = null
                    shown = next
                    showImage()
                    showPrediction(result.value.prediction, stages, image.width, image.height)
                }
            } catch (error: BrainEdgeException) {
                ui { pendingUri = null; showImageProblem(error.message ?: "unreadable image") }
            } catch (error: RuntimeException) {
                ui { pendingUri = null; showImageProblem("${error.javaClass.simpleName}: ${error.message}") }
            } catch (error: OutOfMemoryError) {
                ui { pendingUri = null; showImageProblem("not enough memory to classify this image") }
            }
        }
    }

    /**
     * Not recognised comes first: the class scores of an image unlike the training images mean
     * nothing, however high, so they are shown only beneath a line that says so.
     */
    private fun showPrediction(prediction: Prediction, stagesMs: Map<String, Double>, width: Int, height: Int) {
        val headline = findViewById<TextView>(R.id.headline)
        val ranked = prediction.topK.joinToString("\n") {
            String.format(Locale.US, "%-14s %6.2f%%", it.label, it.score * 100)
        }
        val threshold = classifier?.metadata?.outOfDistribution?.threshold
        when {
            prediction.notRecognised() -> {
                headline.text = getString(R.string.not_recognised)
                headline.setTextColor(Color.rgb(0xB7, 0x1C, 0x1C))
                val score = prediction.oodScore ?: Double.NaN
                findViewById<TextView>(R.id.top_k).text = getString(R.string.not_recognised_detail,
                    String.format(Locale.US, "%.1f", score), String.format(Locale.US, "%.1f", threshold ?: Double.NaN)) +
                    "\n" + ranked
            }
            prediction.uncertain -> {
                headline.text = getString(R.string.uncertain)
                headline.setTextColor(Color.rgb(0xB0, 0x60, 0x00))
                findViewById<TextView>(R.id.top_k).text = ranked
            }
            else -> {
                headline.text = prediction.best().label
                headline.setTextColor(Color.rgb(0x1B, 0x5E, 0x20))
                findViewById<TextView>(R.id.top_k).text = ranked
            }
        }
        findViewById<TextView>(R.id.timings).text = "image ${width}x$height\n" + stagesMs.entries.joinToString("\n") {
            String.format(Locale.US, "%-12s %8.2f ms", it.key, it.value)
        }
    }

    private fun showImageProblem(message: String) {
        findViewById<TextView>(R.id.headline).text = message
        findViewById<TextView>(R.id.top_k).text = ""
        findViewById<TextView>(R.id.timings).text = ""
    }

    /** Run on the UI thread unless the activity has gone (a late worker result is dropped). */
    private fun ui(action: () -> Unit) = runOnUiThread { if (!destroyed) action() }

    /** One classified image as shown: its preview, the overlay of its map and the overlay's caption. */
    private class Shown(val image: Bitmap, val overlay: Bitmap?, val caption: String?)

    companion object {
        const val TOP_K = 3
        const val DEFAULT_THREADS = 4
        private const val KEY_CAPTURE_URI = "capture_uri"
        private const val KEY_PENDING_URI = "pending_uri"
    }
}
