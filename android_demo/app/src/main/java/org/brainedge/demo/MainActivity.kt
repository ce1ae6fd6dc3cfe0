package org.brainedge.demo

import android.content.Intent
import android.graphics.Color
import android.net.Uri
import android.os.Bundle
import android.os.SystemClock
import android.view.View
import android.widget.Button
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
import org.brainedge.core.Prediction

/** Pick or take an image, classify it with the bundled model, show top-k, uncertainty and timings. */
class MainActivity : AppCompatActivity() {
    private val worker: ExecutorService = Executors.newSingleThreadExecutor()
    @Volatile private var classifier: LiteRtClassifier? = null
    private var captureUri: Uri? = null

    private val pickImage = registerForActivityResult(ActivityResultContracts.GetContent()) { uri ->
        uri?.let(::classify)
    }
    private val takePhoto = registerForActivityResult(ActivityResultContracts.TakePicture()) { saved ->
        if (saved) captureUri?.let(::classify)
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        findViewById<Button>(R.id.pick_image).setOnClickListener { pickImage.launch("image/*") }
        findViewById<Button>(R.id.take_photo).setOnClickListener { launchCamera() }
        findViewById<Button>(R.id.open_benchmark).setOnClickListener {
            startActivity(Intent(this, BenchmarkActivity::class.java))
        }
        worker.execute(::loadClassifier)
    }

    override fun onDestroy() {
        worker.execute { classifier?.close() }
        worker.shutdown()
        super.onDestroy()
    }

    /** Load and verify the bundle off the UI thread; any problem becomes the error screen. */
    private fun loadClassifier() {
        try {
            val loaded = LiteRtClassifier(BundleAssets.load(assets), threads = DEFAULT_THREADS)
            classifier = loaded
            runOnUiThread { showReady(loaded) }
        } catch (error: BrainEdgeException) {
            runOnUiThread { showError(error.message ?: "unknown problem") }
        } catch (error: RuntimeException) { // LiteRT's native layer: never crash, say what happened
            runOnUiThread { showError("${error.javaClass.simpleName}: ${error.message}") }
        }
    }

    private fun showReady(loaded: LiteRtClassifier) {
        val m = loaded.metadata
        val quantization = m.input.quantization?.let { " q(scale=${it.scale}, zp=${it.zeroPoint})" } ?: ""
        findViewById<TextView>(R.id.bundle_info).text = getString(R.string.app_name) +
            " · ${m.variant} · input ${m.input.height}x${m.input.width} ${m.input.dtype}$quantization" +
            " · ${m.classNames.size} classes · threshold ${m.confidenceThreshold}"
        listOf(R.id.pick_image, R.id.take_photo, R.id.open_benchmark).forEach { findViewById<Button>(it).isEnabled = true }
    }

    private fun showError(message: String) {
        findViewById<View>(R.id.content).visibility = View.GONE
        findViewById<View>(R.id.error_panel).visibility = View.VISIBLE
        findViewById<TextView>(R.id.error_message).text = message
    }

    private fun launchCamera() {
        val file = File(cacheDir, "captures/capture.jpg").apply { parentFile?.mkdirs() }
        val uri = FileProvider.getUriForFile(this, "$packageName.files", file)
        captureUri = uri
        takePhoto.launch(uri)
    }

    private fun classify(uri: Uri) {
        val loaded = classifier ?: return
        findViewById<TextView>(R.id.headline).text = "…"
        worker.execute {
            try {
                val start = SystemClock.elapsedRealtimeNanos()
                val image = ImageDecoding.decode(contentResolver, uri)
                val decodeMs = millis(start, SystemClock.elapsedRealtimeNanos())
                val result = loaded.classify(image, topK = TOP_K)
                val preview = ImageDecoding.preview(image)
                runOnUiThread {
                    findViewById<ImageView>(R.id.preview).setImageBitmap(preview)
                    showPrediction(result.value, linkedMapOf("decode" to decodeMs) + result.stagesMs, image.width, image.height)
                }
            } catch (error: BrainEdgeException) {
                runOnUiThread { showImageProblem(error.message ?: "unreadable image") }
            } catch (error: RuntimeException) {
                runOnUiThread { showImageProblem("${error.javaClass.simpleName}: ${error.message}") }
            }
        }
    }

    private fun showPrediction(prediction: Prediction, stagesMs: Map<String, Double>, width: Int, height: Int) {
        val headline = findViewById<TextView>(R.id.headline)
        headline.text = prediction.headline()
        headline.setTextColor(if (prediction.uncertain) Color.rgb(0xB0, 0x60, 0x00) else Color.rgb(0x1B, 0x5E, 0x20))
        findViewById<TextView>(R.id.top_k).text = prediction.topK.joinToString("\n") {
            String.format(Locale.US, "%-14s %6.2f%%", it.label, it.score * 100)
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

    companion object {
        const val TOP_K = 3
        const val DEFAULT_THREADS = 4
    }
}
