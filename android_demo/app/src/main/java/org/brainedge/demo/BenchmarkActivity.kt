package org.brainedge.demo

import android.content.ActivityNotFoundException
import android.content.Intent
import android.os.Build
import android.os.Bundle
import android.os.SystemClock
import android.widget.Button
import android.widget.EditText
import android.widget.TextView
import androidx.appcompat.app.AppCompatActivity
import androidx.core.content.FileProvider
import java.io.File
import java.text.SimpleDateFormat
import java.util.Date
import java.util.Locale
import java.util.TimeZone
import java.util.concurrent.CancellationException
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import org.brainedge.core.BenchmarkResult
import org.brainedge.core.BrainEdgeException
import org.brainedge.core.Json
import org.brainedge.core.RgbImage

/**
 * Measure the bundled model on this phone the way brainedge-bench measures it on a computer
 * (init, first inference, warm-up, steady-state invoke latency, end-to-end throughput, accuracy
 * on the bundled labelled samples, peak RSS), and share the result JSON for `brainedge-bench --merge`.
 *
 * Leaving the screen stops a benchmark in progress (numbers measured in the background are not
 * comparable anyway); its interpreter is closed on every path.
 */
class BenchmarkActivity : AppCompatActivity() {
    private val worker: ExecutorService = Executors.newSingleThreadExecutor()
    private var resultFile: File? = null
    /** Set when the screen is left; the worker checks it between inferences. */
    @Volatile private var cancelled = false

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_benchmark)
        layOutEdgeToEdge(findViewById(R.id.root))
        findViewById<Button>(R.id.run).setOnClickListener { start() }
        findViewById<Button>(R.id.share).setOnClickListener { share() }
    }

    override fun onStop() {
        cancelled = true
        super.onStop()
    }

    override fun onDestroy() {
        cancelled = true
        worker.shutdownNow()
        super.onDestroy()
    }

    private fun start() {
        val runs = number(R.id.runs, default = 100).coerceAtLeast(1)
        val warmup = number(R.id.warmup, default = 10).coerceAtLeast(0)
        val threads = findViewById<EditText>(R.id.threads).text.split(",")
            .mapNotNull { it.trim().toIntOrNull() }.filter { it > 0 }.ifEmpty { listOf(1) }
        findViewById<Button>(R.id.run).isEnabled = false
        findViewById<Button>(R.id.share).isEnabled = false
        report("running $runs timed runs after $warmup warm-up, threads $threads …")
        cancelled = false
        worker.execute {
            try {
                val file = benchmark(runs, warmup, threads)
                resultFile = file
                runOnUiThread { findViewById<Button>(R.id.share).isEnabled = true }
                report("\nwrote ${file.name}")
            } catch (stopped: CancellationException) {
                report("\nstopped: the benchmark screen was left")
            } catch (error: BrainEdgeException) {
                report("\nerror: ${error.message}")
            } catch (error: RuntimeException) {
                report("\nerror: ${error.javaClass.simpleName}: ${error.message}")
            } catch (error: OutOfMemoryError) {
                report("\nerror: out of memory")
            } finally {
                runOnUiThread { findViewById<Button>(R.id.run).isEnabled = true }
            }
        }
    }

    private fun benchmark(runs: Int, warmup: Int, threadCounts: List<Int>): File {
        val samples = BundleAssets.samples(assets)
        if (samples.isEmpty()) {
            throw BrainEdgeException("no sample images in the app (assets/samples/<class>/); " +
                "run bundle_into_app.py with --samples DIR")
        }
        val rows = threadCounts.map { threads -> measure(threads, samples, runs, warmup) }
        val device = deviceRecord()
        val created = isoNow()
        val runId = "android-${Build.MODEL.replace(Regex("[^A-Za-z0-9._-]"), "-")}-${created.replace(":", "")}"
        val settings = linkedMapOf<String, Any?>("threads" to threadCounts, "backends" to listOf(BACKEND),
            "runs" to runs, "warmup" to warmup, "build" to if (BuildConfig.DEBUG) "debug" else "release")
        val testSet = BenchmarkResult.testSet("app assets/${BundleAssets.SAMPLES_DIR}", samples.map { it.label })
        val document = BenchmarkResult.document(runId, device, "BrainEdge Android app benchmark screen",
            created, settings, testSet, rows)
        val file = File(cacheDir, "benchmarks/brainedge-$runId.json").apply { parentFile?.mkdirs() }
        file.writeText(Json.write(document))
        return file
    }

    /** One row: a fresh interpreter with this many threads, measured phase by phase. */
    private fun measure(threads: Int, samples: List<Sample>, runs: Int, warmup: Int): BenchmarkResult.Row {
        val initStart = SystemClock.elapsedRealtimeNanos()
        val bundle = BundleAssets.load(assets)
        return LiteRtClassifier(bundle, threads).use { classifier ->
            val initMs = millis(initStart, SystemClock.elapsedRealtimeNanos())
            val fixed = classifier.preprocess(decodeAsset(samples[0].assetPath))
            val firstStart = SystemClock.elapsedRealtimeNanos()
            classifier.probabilities(fixed)
            val firstMs = millis(firstStart, SystemClock.elapsedRealtimeNanos())
            repeat(warmup) { checkNotCancelled(); classifier.probabilities(fixed) }
            val latencies = DoubleArray(runs) {
                checkNotCancelled()
                val start = SystemClock.elapsedRealtimeNanos()
                classifier.probabilities(fixed)
                millis(start, SystemClock.elapsedRealtimeNanos())
            }
            val (truth, predicted, seconds) = classifyAll(classifier, samples)
            val names = classifier.metadata.classNames
            val scored = truth.indices.filter { truth[it] >= 0 }
            val scores = if (scored.isEmpty()) null else BenchmarkResult.accuracyAndMacroF1(
                scored.map { truth[it] }.toIntArray(), scored.map { predicted[it] }.toIntArray(), names.size)
            report(String.format(Locale.US, "\n%d thread(s): init %.1f ms, first %.1f ms, p50 %.2f ms, accuracy %s",
                threads, initMs, firstMs, latencies.sorted()[latencies.size / 2],
                scores?.let { String.format(Locale.US, "%.3f", it[0]) } ?: "n/a (folders are not class names)"))
            BenchmarkResult.Row().apply {
                artifact = bundle.name
                format = "tflite"
                variant = classifier.metadata.variant
                backend = BACKEND
                this.threads = threads
                accuracy = scores?.get(0)
                macroF1 = scores?.get(1)
                sizeBytes = bundle.model.size.toLong()
                this.initMs = initMs
                this.firstMs = firstMs
                latencySamplesMs = latencies
                throughputIps = if (seconds > 0) samples.size / seconds else null
                peakRssMb = BenchmarkResult.peakRssMb(File("/proc/self/status").readText())
                images = samples.size
                imageErrors = predicted.count { it < 0 }
            }
        }
    }

    /** End to end over every sample: true class index (-1 if its folder is not a class) and top-1 (-1 if unreadable). */
    private fun classifyAll(classifier: LiteRtClassifier, samples: List<Sample>): Triple<IntArray, IntArray, Double> {
        val names = classifier.metadata.classNames
        val truth = IntArray(samples.size) { names.indexOf(samples[it].label) }
        val predicted = IntArray(samples.size)
        val start = SystemClock.elapsedRealtimeNanos()
        samples.forEachIndexed { i, sample ->
            checkNotCancelled()
            predicted[i] = try {
                classifier.classify(decodeAsset(sample.assetPath), topK = 1).value.best().index
            } catch (unreadable: BrainEdgeException) {
                -1
            }
        }
        return Triple(truth, predicted, millis(start, SystemClock.elapsedRealtimeNanos()) / 1000.0)
    }

    private fun checkNotCancelled() {
        if (cancelled || Thread.currentThread().isInterrupted) throw CancellationException("benchmark screen left")
    }

    private fun decodeAsset(path: String): RgbImage = ImageDecoding.decode(path) { assets.open(path) }

    private fun deviceRecord(): Map<String, Any?> = BenchmarkResult.androidDevice(
        Build.MANUFACTURER, Build.MODEL, if (Build.VERSION.SDK_INT >= 31) Build.SOC_MODEL else Build.HARDWARE,
        Runtime.getRuntime().availableProcessors(), Build.SUPPORTED_ABIS.firstOrNull(), Build.VERSION.RELEASE,
        Build.VERSION.SDK_INT, BuildConfig.LITERT_VERSION, BuildConfig.VERSION_NAME,
        readOrNull("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
    )

    private fun readOrNull(path: String): String? = runCatching { File(path).readText().trim() }.getOrNull()

    private fun isoNow(): String = SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss'+00:00'", Locale.US)
        .apply { timeZone = TimeZone.getTimeZone("UTC") }.format(Date())

    private fun share() {
        val file = resultFile ?: return
        val uri = FileProvider.getUriForFile(this, "$packageName.files", file)
        val send = Intent(Intent.ACTION_SEND).apply {
            type = "application/json"
            putExtra(Intent.EXTRA_STREAM, uri)
            putExtra(Intent.EXTRA_SUBJECT, file.name)
            addFlags(Intent.FLAG_GRANT_READ_URI_PERMISSION)
        }
        try {
            startActivity(Intent.createChooser(send, getString(R.string.share_result)))
        } catch (missing: ActivityNotFoundException) {
            report("\nno app can receive the file; pull it with adb from ${file.absolutePath}")
        }
    }

    private fun number(id: Int, default: Int): Int =
        findViewById<EditText>(id).text.toString().trim().toIntOrNull() ?: default

    private fun report(line: String) = runOnUiThread {
        if (!isDestroyed) findViewById<TextView>(R.id.report).append(line)
    }

    companion object {
        const val BACKEND = "litert-android"
    }
}
