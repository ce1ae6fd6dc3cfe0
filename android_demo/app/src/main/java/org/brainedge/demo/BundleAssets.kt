package org.brainedge.demo

import android.content.res.AssetManager
import java.io.ByteArrayInputStream
import java.io.FileNotFoundException
import java.io.IOException
import org.brainedge.core.BrainEdgeException
import org.brainedge.core.BundleMetadata
import org.brainedge.core.Head
import org.brainedge.core.Json
import org.brainedge.core.Labels
import org.brainedge.core.Sha256

/** Where tools/bundle_into_app.py puts the bundle and the benchmark's sample images. */
object BundleAssets {
    const val BUNDLE_DIR = "bundle"
    const val SAMPLES_DIR = "samples"
    const val INFO_FILE = "bundle_info.json"
    private const val HINT = "run android_demo/tools/bundle_into_app.py BUNDLE_DIR and rebuild the app"

    /**
     * Read and verify the bundled model: metadata.json parsed and checked, the model's SHA-256
     * equal to the metadata's, labels.txt equal to its class names, and for a schema 2 bundle with
     * a head, the head file's SHA-256 and tensors. Throws BrainEdgeException.
     */
    fun load(assets: AssetManager): LoadedBundle {
        val metadataPath = "$BUNDLE_DIR/metadata.json"
        val metadataText = readText(assets, metadataPath)
            ?: throw BrainEdgeException("$metadataPath: missing from the app's assets; $HINT")
        val metadata = BundleMetadata.parse(metadataText, metadataPath)
        if (metadata.modelFormat != "tflite") {
            throw BrainEdgeException("$metadataPath: a ${metadata.modelFormat} model cannot run here; bundle a TFLite one")
        }
        val modelPath = "$BUNDLE_DIR/${metadata.modelFile}"
        val model = readBytes(assets, modelPath)
            ?: throw BrainEdgeException("$modelPath: model file named in the bundle metadata is missing; $HINT")
        Sha256.check(Sha256.hex(ByteArrayInputStream(model)), metadata, modelPath)
        val labelsPath = "$BUNDLE_DIR/${metadata.labelsFile}"
        val labelsText = readText(assets, labelsPath)
            ?: throw BrainEdgeException("$labelsPath: labels file not found; $HINT")
        metadata.checkLabels(Labels.parse(labelsText, labelsPath), labelsPath)
        return LoadedBundle(metadata, model, loadHead(assets, metadata), bundleName(assets, metadata))
    }

    /** The head file the metadata names (null for a bundle whose model outputs class scores), verified. */
    private fun loadHead(assets: AssetManager, metadata: BundleMetadata): Head? {
        val spec = metadata.head ?: return null
        val headPath = "$BUNDLE_DIR/${spec.file}"
        val bytes = readBytes(assets, headPath)
            ?: throw BrainEdgeException("$headPath: head file named in the bundle metadata is missing; $HINT")
        Sha256.checkHead(Sha256.hex(ByteArrayInputStream(bytes)), metadata, headPath)
        return Head.load(metadata, bytes, headPath)
    }

    /** The bundle directory's name on the computer it came from (the benchmark's artifact name). */
    private fun bundleName(assets: AssetManager, metadata: BundleMetadata): String {
        val info = readText(assets, INFO_FILE) ?: return metadata.variant
        val parsed = runCatching { Json.parse(info) as? Map<*, *> }.getOrNull()
        return parsed?.get("name") as? String ?: metadata.variant
    }

    /** Labelled sample images: assets/samples/<class name>/<file>, sorted for repeatable runs. */
    fun samples(assets: AssetManager): List<Sample> =
        list(assets, SAMPLES_DIR).sorted().flatMap { label ->
            list(assets, "$SAMPLES_DIR/$label").sorted().map { Sample("$SAMPLES_DIR/$label/$it", label) }
        }

    private fun list(assets: AssetManager, path: String): Array<String> =
        try {
            assets.list(path) ?: emptyArray()
        } catch (error: IOException) {
            throw BrainEdgeException("assets/$path: cannot be listed (${error.message})")
        }

    /** The asset's bytes, null if it does not exist; any other read failure is a BrainEdgeException. */
    fun readBytes(assets: AssetManager, path: String): ByteArray? =
        try {
            assets.open(path).use { it.readBytes() }
        } catch (missing: FileNotFoundException) {
            null
        } catch (error: IOException) {
            throw BrainEdgeException("assets/$path: cannot be read (${error.message})")
        }

    private fun readText(assets: AssetManager, path: String): String? = readBytes(assets, path)?.toString(Charsets.UTF_8)
}

/** A verified bundle: its metadata, model bytes and head (null when the model outputs class scores). */
class LoadedBundle(val metadata: BundleMetadata, val model: ByteArray, val head: Head?, val name: String)

/** One bundled benchmark image and the class its folder names. */
data class Sample(val assetPath: String, val label: String)
