package org.brainedge.core;

/**
 * A decoded image as 8-bit RGB, the point where the Python runtime's contract starts.
 *
 * <p>Whatever the source (an Android Bitmap, a PNG read by javax.imageio), it is turned into RGB
 * exactly as {@code edge_runtime.preprocess.decode_rgb} does: gray is replicated into three channels
 * and transparent pixels are composited over black with Pillow's integer arithmetic.
 */
public final class RgbImage {
    public final int width;
    public final int height;
    private final byte[] rgb;

    private RgbImage(byte[] rgb, int width, int height) {
        if (width < 1 || height < 1) {
            throw new BrainEdgeException("image has no pixels (" + width + "x" + height + ")");
        }
        this.rgb = rgb;
        this.width = width;
        this.height = height;
    }

    /** Interleaved RGB bytes, row by row. */
    public static RgbImage fromRgb(byte[] rgb, int width, int height) {
        checkLength(rgb.length, width, height, 3);
        return new RgbImage(rgb.clone(), width, height);
    }

    /** One gray byte per pixel, replicated into R, G and B (as Pillow's convert("RGB")). */
    public static RgbImage fromGray(byte[] gray, int width, int height) {
        checkLength(gray.length, width, height, 1);
        byte[] rgb = new byte[gray.length * 3];
        for (int i = 0; i < gray.length; i++) {
            rgb[3 * i] = gray[i];
            rgb[3 * i + 1] = gray[i];
            rgb[3 * i + 2] = gray[i];
        }
        return new RgbImage(rgb, width, height);
    }

    /** Interleaved, non-premultiplied RGBA bytes, composited over opaque black. */
    public static RgbImage fromRgba(byte[] rgba, int width, int height) {
        checkLength(rgba.length, width, height, 4);
        byte[] rgb = new byte[width * height * 3];
        for (int i = 0; i < width * height; i++) {
            int alpha = rgba[4 * i + 3] & 0xff;
            for (int c = 0; c < 3; c++) {
                rgb[3 * i + c] = (byte) overBlack(rgba[4 * i + c] & 0xff, alpha);
            }
        }
        return new RgbImage(rgb, width, height);
    }

    /**
     * Non-premultiplied ARGB ints, as Android's {@code Bitmap.getPixels} returns them (decode with
     * {@code inPremultiplied = false} so transparent pixels keep their exact values).
     */
    public static RgbImage fromArgb(int[] argb, int width, int height) {
        checkLength(argb.length, width, height, 1);
        byte[] rgb = new byte[argb.length * 3];
        for (int i = 0; i < argb.length; i++) {
            int pixel = argb[i];
            int alpha = pixel >>> 24;
            rgb[3 * i] = (byte) overBlack((pixel >> 16) & 0xff, alpha);
            rgb[3 * i + 1] = (byte) overBlack((pixel >> 8) & 0xff, alpha);
            rgb[3 * i + 2] = (byte) overBlack(pixel & 0xff, alpha);
        }
        return new RgbImage(rgb, width, height);
    }

    /**
     * One channel of Pillow's {@code alpha_composite(black, image)}: its fixed-point blend with
     * 7 precision bits and its divide-by-255 shortcut, so the result matches Python bit for bit.
     */
    static int overBlack(int value, int alpha) {
        if (alpha == 0) {
            return 0;
        }
        int blended = value * (alpha << 7) + (0x80 << 7);
        return (((blended >> 8) + blended) >> 8) >> 7;
    }

    private static void checkLength(int length, int width, int height, int perPixel) {
        if (width < 1 || height < 1 || (long) width * height * perPixel != length) {
            throw new BrainEdgeException("pixel buffer of " + length + " values does not fit a " + width + "x"
                    + height + " image with " + perPixel + " value(s) per pixel");
        }
    }

    /** Channel c (0 = R) of the pixel at row y, column x, as 0..255. */
    public int get(int y, int x, int c) {
        return rgb[(y * width + x) * 3 + c] & 0xff;
    }

    /**
     * The image turned upright as its EXIF orientation tag (1..8) says, like Pillow's exif_transpose;
     * other values leave it as it is. Pixels are moved, never resampled.
     */
    public RgbImage oriented(int exifOrientation) {
        if (exifOrientation < 2 || exifOrientation > 8) {
            return this;
        }
        boolean swap = exifOrientation >= 5;
        int outWidth = swap ? height : width;
        int outHeight = swap ? width : height;
        byte[] out = new byte[rgb.length];
        for (int y = 0; y < outHeight; y++) {
            for (int x = 0; x < outWidth; x++) {
                int source = sourceIndex(exifOrientation, y, x);
                System.arraycopy(rgb, source * 3, out, (y * outWidth + x) * 3, 3);
            }
        }
        return new RgbImage(out, outWidth, outHeight);
    }

    /** The source pixel (as row * width + column) that lands on output row y, column x. */
    private int sourceIndex(int orientation, int y, int x) {
        int w = width;
        int h = height;
        switch (orientation) {
            case 2: return y * w + (w - 1 - x);
            case 3: return (h - 1 - y) * w + (w - 1 - x);
            case 4: return (h - 1 - y) * w + x;
            case 5: return x * w + y;
            case 6: return (h - 1 - x) * w + y;
            case 7: return (h - 1 - x) * w + (w - 1 - y);
            default: return x * w + (w - 1 - y);
        }
    }

    /** Opaque ARGB ints, for showing the image the model sees. */
    public int[] toArgb() {
        int[] argb = new int[width * height];
        for (int i = 0; i < argb.length; i++) {
            argb[i] = 0xff000000 | (rgb[3 * i] & 0xff) << 16 | (rgb[3 * i + 1] & 0xff) << 8 | (rgb[3 * i + 2] & 0xff);
        }
        return argb;
    }
}
