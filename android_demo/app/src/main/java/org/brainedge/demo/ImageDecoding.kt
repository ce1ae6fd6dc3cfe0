package org.brainedge.demo

import android.graphics.Bitmap
import android.graphics.BitmapFactory
import androidx.exifinterface.media.ExifInterface
import java.io.IOException
import java.io.InputStream
import java.nio.ByteBuffer
import org.brainedge.core.BrainEdgeException
import org.brainedge.core.RgbImage

/**
 * Images to brainedge-core's RgbImage, matching the Python runtime's decode_rgb for every image
 * whose shorter side is under 2 x [MIN_DECODED_SIDE] px (MRI slices are far smaller): full
 * resolution, transparent pixels over black with their exact values (inPremultiplied = false), the
 * encoded pixel values without colour management (like Pillow), EXIF orientation applied.
 *
 * Larger photos are decoded subsampled by a power of two, never below [MIN_DECODED_SIDE] px on
 * either side (the model wants a few hundred pixels, the preview 1024), so a 48 MP camera photo
 * needs about 3 MP of memory instead of several full-resolution copies.
 *
 * Every failure (a stale or cloud URI, a camera app that wrote nothing, a file that is not an
 * image, too little memory) becomes a [BrainEdgeException] naming the image.
 */
object ImageDecoding {
    /** Headers above this are refused before any pixel is decoded (decompression bombs). */
    const val MAX_PIXELS = 250_000_000L
    /** Subsampling stops before either side would fall below this; it is also the preview's longest side. */
    const val MIN_DECODED_SIDE = 1024
    /** Subsampling continues while the decoded image would exceed this (very long, thin images). */
    const val MAX_DECODED_PIXELS = 16_000_000L

    fun decode(name: String, open: () -> InputStream?): RgbImage =
        try {
            decodeOrThrow(name, open)
        } catch (error: IOException) { // FileNotFoundException included: stale URI, empty capture, missing asset
            throw BrainEdgeException("$name: cannot be read (${error.javaClass.simpleName}: ${error.message})")
        } catch (error: SecurityException) { // a URI whose read permission has gone
            throw BrainEdgeException("$name: no permission to read it any more; pick it again")
        } catch (error: OutOfMemoryError) {
            throw BrainEdgeException("$name: too large to decode on this phone")
        }

    /** The power-of-two subsampling BitmapFactory should apply to a width x height image. */
    fun sampleSize(width: Int, height: Int): Int {
        var sample = 1
        while (true) {
            val next = sample * 2
            val keepsDetail = width / next >= MIN_DECODED_SIDE && height / next >= MIN_DECODED_SIDE
            val tooBig = (width.toLong() / sample) * (height.toLong() / sample) > MAX_DECODED_PIXELS
            if (!keepsDetail && !tooBig) return sample
            sample = next
        }
    }

    private fun decodeOrThrow(name: String, open: () -> InputStream?): RgbImage {
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        (open() ?: throw BrainEdgeException("$name: cannot be opened")).use { BitmapFactory.decodeStream(it, null, bounds) }
        if (bounds.outWidth <= 0 || bounds.outHeight <= 0) {
            throw BrainEdgeException("$name: empty, or not an image file Android can decode")
        }
        if (bounds.outWidth.toLong() * bounds.outHeight > MAX_PIXELS) {
            throw BrainEdgeException("$name: ${bounds.outWidth}x${bounds.outHeight} image exceeds the " +
                "${MAX_PIXELS / 1_000_000}-megapixel limit")
        }
        val options = BitmapFactory.Options().apply {
            inPreferredConfig = Bitmap.Config.ARGB_8888
            inPremultiplied = false
            inScaled = false
            inSampleSize = sampleSize(bounds.outWidth, bounds.outHeight)
            // inPreferredColorSpace stays null: the decoder keeps a colour space the file embeds
            // (ICC profile, gAMA/cHRM) where it can, and copyPixelsToBuffer below reads the stored
            // values without converting them to sRGB, as Pillow does (Bitmap.getPixels would convert).
        }
        val bitmap = open()?.use { BitmapFactory.decodeStream(it, null, options) }
            ?: throw BrainEdgeException("$name: corrupt or truncated image")
        val image = try {
            rgbOf(name, bitmap)
        } finally {
            bitmap.recycle()
        }
        return image.oriented(exifOrientation(open))
    }

    /** The bitmap's stored, non-premultiplied RGBA bytes (no colour conversion) as an RgbImage. */
    private fun rgbOf(name: String, bitmap: Bitmap): RgbImage {
        if (bitmap.config != Bitmap.Config.ARGB_8888 || bitmap.rowBytes != bitmap.width * 4) {
            throw BrainEdgeException("$name: decoded as ${bitmap.config} with ${bitmap.rowBytes} bytes per row; " +
                "expected 8-bit RGBA (convert the image to an 8-bit PNG)")
        }
        val rgba = ByteBuffer.allocate(bitmap.rowBytes * bitmap.height)
        bitmap.copyPixelsToBuffer(rgba)
        return RgbImage.fromRgba(rgba.array(), bitmap.width, bitmap.height)
    }

    private fun exifOrientation(open: () -> InputStream?): Int =
        try {
            open()?.use { ExifInterface(it).getAttributeInt(ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL) }
                ?: ExifInterface.ORIENTATION_NORMAL
        } catch (unreadable: IOException) {
            ExifInterface.ORIENTATION_NORMAL
        }

    /** What the model sees, shrunk for the screen by nearest-neighbour sampling (display only). */
    fun preview(image: RgbImage, maxSide: Int = MIN_DECODED_SIDE): Bitmap = previewPixels(image, maxSide).toBitmap()

    /** [preview]'s opaque ARGB pixels, for drawing over (the class-activation overlay) before display. */
    fun previewPixels(image: RgbImage, maxSide: Int = MIN_DECODED_SIDE): Pixels {
        val scale = minOf(1.0, maxSide.toDouble() / maxOf(image.width, image.height))
        val width = (image.width * scale).toInt().coerceAtLeast(1)
        val height = (image.height * scale).toInt().coerceAtLeast(1)
        val argb = IntArray(width * height)
        for (y in 0 until height) {
            val sourceY = minOf(image.height - 1, (y / scale).toInt())
            for (x in 0 until width) {
                val sourceX = minOf(image.width - 1, (x / scale).toInt())
                argb[y * width + x] = (0xff shl 24) or (image.get(sourceY, sourceX, 0) shl 16) or
                    (image.get(sourceY, sourceX, 1) shl 8) or image.get(sourceY, sourceX, 2)
            }
        }
        return Pixels(argb, width, height)
    }
}

/** Opaque ARGB pixels, row by row. */
class Pixels(val argb: IntArray, val width: Int, val height: Int) {
    fun toBitmap(): Bitmap = Bitmap.createBitmap(argb, width, height, Bitmap.Config.ARGB_8888)
}
