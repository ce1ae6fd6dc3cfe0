package org.brainedge.demo

import android.content.ContentResolver
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.net.Uri
import androidx.exifinterface.media.ExifInterface
import java.io.IOException
import java.io.InputStream
import org.brainedge.core.BrainEdgeException
import org.brainedge.core.RgbImage

/**
 * Images to brainedge-core's RgbImage, matching the Python runtime's decode_rgb: full resolution
 * (no subsampling: the resize must see every pixel), transparent pixels over black with their
 * exact values (inPremultiplied = false), EXIF orientation applied.
 */
object ImageDecoding {
    /** About 160 MB of ARGB pixels: far above any MRI slice, below what a phone can hold twice. */
    const val MAX_PIXELS = 40_000_000L

    fun decode(name: String, open: () -> InputStream?): RgbImage {
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        (open() ?: throw BrainEdgeException("$name: cannot be opened")).use { BitmapFactory.decodeStream(it, null, bounds) }
        if (bounds.outWidth <= 0 || bounds.outHeight <= 0) {
            throw BrainEdgeException("$name: not an image file Android can decode")
        }
        val pixels = bounds.outWidth.toLong() * bounds.outHeight
        if (pixels > MAX_PIXELS) {
            throw BrainEdgeException("$name: ${bounds.outWidth}x${bounds.outHeight} image exceeds the " +
                "${MAX_PIXELS / 1_000_000}-megapixel limit")
        }
        val options = BitmapFactory.Options().apply {
            inPreferredConfig = Bitmap.Config.ARGB_8888
            inPremultiplied = false
            inScaled = false
        }
        val bitmap = open()?.use { BitmapFactory.decodeStream(it, null, options) }
            ?: throw BrainEdgeException("$name: corrupt or truncated image")
        val argb = IntArray(bitmap.width * bitmap.height)
        bitmap.getPixels(argb, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        val image = RgbImage.fromArgb(argb, bitmap.width, bitmap.height)
        bitmap.recycle()
        return image.oriented(exifOrientation(open))
    }

    fun decode(resolver: ContentResolver, uri: Uri): RgbImage = decode(uri.toString()) { resolver.openInputStream(uri) }

    private fun exifOrientation(open: () -> InputStream?): Int =
        try {
            open()?.use { ExifInterface(it).getAttributeInt(ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL) }
                ?: ExifInterface.ORIENTATION_NORMAL
        } catch (unreadable: IOException) {
            ExifInterface.ORIENTATION_NORMAL
        }

    /** What the model sees, shrunk for the screen (display only; never fed to the model). */
    fun preview(image: RgbImage, maxSide: Int = 1024): Bitmap {
        val full = Bitmap.createBitmap(image.toArgb(), image.width, image.height, Bitmap.Config.ARGB_8888)
        val scale = maxSide.toFloat() / maxOf(image.width, image.height)
        if (scale >= 1f) return full
        return Bitmap.createScaledBitmap(full, (image.width * scale).toInt().coerceAtLeast(1),
            (image.height * scale).toInt().coerceAtLeast(1), true)
    }
}
