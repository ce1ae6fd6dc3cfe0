package org.brainedge.core;

/**
 * Where the model looked for one class: a class-activation map at feature-map resolution, in [0, 1],
 * and its overlay over an image, as {@code edge_runtime/head.py}'s {@code Head.class_map} and
 * {@code edge_runtime/explain.py} draw them. Plain arrays only: the app turns the ARGB ints into a
 * Bitmap and writes its own caption.
 *
 * <p>For a head of global average pooling and one dense layer the map is exact (Zhou et al. 2016):
 * the feature map weighted by the layer's weights for the class, its positive part, divided by its
 * maximum (all zero when nothing in the image speaks for the class). It is computed in double, as
 * Python computes it in float64; the goldens hold it to 1e-5. Upsampling is the preprocessing
 * contract's float32 half-pixel bilinear resize ({@link Preprocessor#resizeBilinear(float[], int, int,
 * int, int, int)}), clipped to [0, 1]; the blend is float32 arithmetic in numpy's order, so both match
 * Python bit for bit.
 */
public final class ClassMap {
    /** How much of the viridis colour an overlay pixel takes: Python's {@code explain.OVERLAY_ALPHA}. */
    public static final float OVERLAY_ALPHA = 0.45f;
    /** The image's share, {@code 1 - OVERLAY_ALPHA} computed in double and rounded to float32, as numpy does. */
    private static final float KEEP = (float) (1 - 0.45);

    /** matplotlib's viridis (CC0), 256 RGB steps: Python's {@code explain.VIRIDIS}, byte for byte. */
    private static final String VIRIDIS_HEX =
            "44015444025645045745055946075a46085c460a5d460b5e470d60470e61471063471164471365481467481668481769"
            + "48186a481a6c481b6d481c6e481d6f481f70482071482173482374482475482576482677482878482979472a7a472c7a"
            + "472d7b472e7c472f7d46307e46327e46337f463480453581453781453882443983443a83443b84433d84433e85423f85"
            + "4240864241864142874144874045884046883f47883f48893e49893e4a893e4c8a3d4d8a3d4e8a3c4f8a3c508b3b518b"
            + "3b528b3a538b3a548c39558c39568c38588c38598c375a8c375b8d365c8d365d8d355e8d355f8d34608d34618d33628d"
            + "33638d32648e32658e31668e31678e31688e30698e306a8e2f6b8e2f6c8e2e6d8e2e6e8e2e6f8e2d708e2d718e2c718e"
            + "2c728e2c738e2b748e2b758e2a768e2a778e2a788e29798e297a8e297b8e287c8e287d8e277e8e277f8e27808e26818e"
            + "26828e26828e25838e25848e25858e24868e24878e23888e23898e238a8d228b8d228c8d228d8d218e8d218f8d21908d"
            + "21918c20928c20928c20938c1f948c1f958b1f968b1f978b1f988b1f998a1f9a8a1e9b8a1e9c891e9d891f9e891f9f88"
            + "1fa0881fa1881fa1871fa28720a38620a48621a58521a68522a78522a88423a98324aa8325ab8225ac8226ad8127ad81"
            + "28ae8029af7f2ab07f2cb17e2db27d2eb37c2fb47c31b57b32b67a34b67935b77937b87838b9773aba763bbb753dbc74"
            + "3fbc7340bd7242be7144bf7046c06f48c16e4ac16d4cc26c4ec36b50c46a52c56954c56856c66758c7655ac8645cc863"
            + "5ec96260ca6063cb5f65cb5e67cc5c69cd5b6ccd5a6ece5870cf5773d05675d05477d1537ad1517cd2507fd34e81d34d"
            + "84d44b86d54989d5488bd6468ed64590d74393d74195d84098d83e9bd93c9dd93ba0da39a2da37a5db36a8db34aadc32"
            + "addc30b0dd2fb2dd2db5de2bb8de29bade28bddf26c0df25c2df23c5e021c8e020cae11fcde11dd0e11cd2e21bd5e21a"
            + "d8e219dae319dde318dfe318e2e418e5e419e7e419eae51aece51befe51cf1e51df4e61ef6e620f8e621fbe723fde725";
    private static final int[] VIRIDIS = viridisTable();

    /** The class the map is for. */
    public final int classIndex;
    /** The feature map's height and width. */
    public final int height;
    public final int width;
    private final double[] values;

    ClassMap(int classIndex, int height, int width, double[] values) {
        if ((long) height * width != values.length) {
            throw new IllegalArgumentException(values.length + " values are not a " + height + " x " + width + " map");
        }
        this.classIndex = classIndex;
        this.height = height;
        this.width = width;
        this.values = values;
    }

    /** The map's values, row by row, in [0, 1]. */
    public double[] values() {
        return values.clone();
    }

    /** The value at row y, column x of the feature map. */
    public double get(int y, int x) {
        return values[y * width + x];
    }

    /** Whether nothing in the image speaks for the class (every value zero): the overlay is then viridis' darkest. */
    public boolean isEmpty() {
        for (double value : values) {
            if (value != 0) {
                return false;
            }
        }
        return true;
    }

    /**
     * The map at an image's size, as {@code explain.upsample}: rounded to float32, resized with the
     * contract's bilinear resize, clipped to [0, 1]. Row by row, outHeight x outWidth values.
     */
    public float[] upsample(int outHeight, int outWidth) {
        float[] single = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            single[i] = (float) values[i];
        }
        float[] out = Preprocessor.resizeBilinear(single, height, width, 1, outHeight, outWidth);
        for (int i = 0; i < out.length; i++) {
            out[i] = Math.max(0f, Math.min(1f, out[i]));
        }
        return out;
    }

    /**
     * The image with the map blended over it, as {@code explain.overlay} without its caption: each pixel
     * {@code (1 - 0.45) * pixel + 0.45 * viridis[rint(map * 255)]}, rounded. {@code argb} holds the
     * image's pixels row by row (alpha ignored, as over an opaque image); the result is opaque ARGB.
     */
    public int[] overlay(int[] argb, int imageWidth, int imageHeight) {
        if ((long) imageWidth * imageHeight != argb.length) {
            throw new BrainEdgeException("pixel buffer of " + argb.length + " values does not fit a " + imageWidth
                    + "x" + imageHeight + " image");
        }
        float[] heat = upsample(imageHeight, imageWidth);
        int[] out = new int[argb.length];
        for (int i = 0; i < argb.length; i++) {
            out[i] = blend(argb[i], heat[i]);
        }
        return out;
    }

    /** {@link #overlay(int[], int, int)} of a decoded image at its full size. */
    public int[] overlay(RgbImage image) {
        return overlay(image.toArgb(), image.width, image.height);
    }

    /** One overlay pixel: an image pixel (ARGB, alpha ignored) blended with the colour of a map value in [0, 1]. */
    public static int blend(int argb, float value) {
        int colour = viridis(value);
        return 0xff000000 | mix((argb >> 16) & 0xff, (colour >> 16) & 0xff) << 16
                | mix((argb >> 8) & 0xff, (colour >> 8) & 0xff) << 8 | mix(argb & 0xff, colour & 0xff);
    }

    /** The viridis colour of a map value, opaque ARGB: step rint(value * 255) (half to even) of the 256. */
    public static int viridis(float value) {
        double step = Math.rint(value * 255f);
        int index = step >= 255 ? 255 : step > 0 ? (int) step : 0; // NaN and below 0: the darkest
        return VIRIDIS[index];
    }

    /** Step {@code index} (0..255) of the table, opaque ARGB. */
    static int viridisStep(int index) {
        return VIRIDIS[index];
    }

    /** One channel in float32, as numpy computes {@code (1 - a) * pixel + a * heat}, then rint and clip. */
    private static int mix(int pixel, int heat) {
        float blended = KEEP * (float) pixel + OVERLAY_ALPHA * (float) heat;
        double rounded = Math.rint(blended);
        return (int) Math.max(0, Math.min(255, rounded));
    }

    private static int[] viridisTable() {
        int[] table = new int[256];
        for (int i = 0; i < table.length; i++) {
            int rgb = Integer.parseInt(VIRIDIS_HEX.substring(6 * i, 6 * i + 6), 16);
            table[i] = 0xff000000 | rgb;
        }
        return table;
    }
}
