package org.brainedge.core;

/**
 * Image to input tensor, bit for bit as {@code edge_runtime/preprocess.py}.
 *
 * <p>Every step is float32 arithmetic in the Python contract's order: TensorFlow's half-pixel
 * bilinear resize (no antialiasing), then (x - mean) / std, then rint(x / scale) + zero_point
 * (round half to even) clipped to the integer type. Java float operations are IEEE single
 * precision and never fused, so the results equal numpy's; golden tests hold them to it.
 */
public final class Preprocessor {
    private Preprocessor() {
    }

    /** The model's 1 x H x W x 3 input tensor for a decoded image, as the metadata's input spec says. */
    public static InputTensor toInputTensor(RgbImage image, InputSpec spec) {
        if (!BundleMetadata.RESIZE_METHOD.equals(spec.resizeMethod)) {
            throw new BrainEdgeException("unsupported resize method \"" + spec.resizeMethod + "\"; expected \""
                    + BundleMetadata.RESIZE_METHOD + "\"");
        }
        if (spec.channels != 3 || !"RGB".equals(spec.colorMode)) {
            throw new BrainEdgeException("unsupported input " + spec.channels + " x " + spec.colorMode
                    + "; expected 3 x RGB");
        }
        float[] values = resizeBilinear(image, spec.height, spec.width);
        normalize(values, spec.mean, spec.std);
        int[] shape = {1, spec.height, spec.width, spec.channels};
        if (spec.quantization == null) {
            return InputTensor.ofFloats(shape, values);
        }
        return InputTensor.ofBytes(spec.dtype, shape, quantize(values, spec.quantization, spec.dtype));
    }

    /** Source indices and weights along one axis, exactly as TF's half-pixel bilinear scaler. */
    static final class Axis {
        final int[] lower;
        final int[] upper;
        final float[] lerp;

        Axis(int inSize, int outSize) {
            lower = new int[outSize];
            upper = new int[outSize];
            lerp = new float[outSize];
            float scale = (float) inSize / (float) outSize;
            for (int i = 0; i < outSize; i++) {
                float centre = ((float) i + 0.5f) * scale - 0.5f;
                float floor = (float) Math.floor(centre);
                lower[i] = (int) Math.max(floor, 0f);
                upper[i] = (int) Math.min((float) Math.ceil(centre), (float) (inSize - 1));
                lerp[i] = centre - floor;
            }
        }
    }

    /** Resize to height x width x 3 float32 values: along x for the two rows, then along y. */
    public static float[] resizeBilinear(RgbImage image, int height, int width) {
        Axis ys = new Axis(image.height, height);
        Axis xs = new Axis(image.width, width);
        float[] out = new float[height * width * 3];
        int o = 0;
        for (int y = 0; y < height; y++) {
            int y0 = ys.lower[y];
            int y1 = ys.upper[y];
            float yLerp = ys.lerp[y];
            for (int x = 0; x < width; x++) {
                int x0 = xs.lower[x];
                int x1 = xs.upper[x];
                float xLerp = xs.lerp[x];
                for (int c = 0; c < 3; c++) {
                    float topLeft = image.get(y0, x0, c);
                    float topRight = image.get(y0, x1, c);
                    float bottomLeft = image.get(y1, x0, c);
                    float bottomRight = image.get(y1, x1, c);
                    float top = topLeft + (topRight - topLeft) * xLerp;
                    float bottom = bottomLeft + (bottomRight - bottomLeft) * xLerp;
                    out[o++] = top + (bottom - top) * yLerp;
                }
            }
        }
        return out;
    }

    /**
     * The same resize of any float32 values (height x width x channels, interleaved): the class-activation
     * map's upsampling ({@link ClassMap#upsample}) goes through it, as Python's {@code explain.upsample}
     * goes through {@code resize_bilinear}, so a map lines up with the pixels the model saw.
     */
    public static float[] resizeBilinear(float[] values, int inHeight, int inWidth, int channels, int height,
            int width) {
        if (inHeight < 1 || inWidth < 1 || channels < 1 || (long) inHeight * inWidth * channels != values.length) {
            throw new BrainEdgeException(values.length + " values are not " + inHeight + " x " + inWidth + " x "
                    + channels);
        }
        if (height < 1 || width < 1) {
            throw new BrainEdgeException("cannot resize to " + height + " x " + width);
        }
        Axis ys = new Axis(inHeight, height);
        Axis xs = new Axis(inWidth, width);
        float[] out = new float[height * width * channels];
        int o = 0;
        for (int y = 0; y < height; y++) {
            int row0 = ys.lower[y] * inWidth;
            int row1 = ys.upper[y] * inWidth;
            float yLerp = ys.lerp[y];
            for (int x = 0; x < width; x++) {
                int x0 = xs.lower[x];
                int x1 = xs.upper[x];
                float xLerp = xs.lerp[x];
                for (int c = 0; c < channels; c++) {
                    float topLeft = values[(row0 + x0) * channels + c];
                    float topRight = values[(row0 + x1) * channels + c];
                    float bottomLeft = values[(row1 + x0) * channels + c];
                    float bottomRight = values[(row1 + x1) * channels + c];
                    float top = topLeft + (topRight - topLeft) * xLerp;
                    float bottom = bottomLeft + (bottomRight - bottomLeft) * xLerp;
                    out[o++] = top + (bottom - top) * yLerp;
                }
            }
        }
        return out;
    }

    /** In place: (x - mean[c]) / std[c] for interleaved channels, in float32. */
    public static void normalize(float[] values, float[] mean, float[] std) {
        int channels = mean.length;
        for (int i = 0; i < values.length; i++) {
            int c = i % channels;
            values[i] = (values[i] - mean[c]) / std[c];
        }
    }

    /** Float values to uint8/int8 bytes as TFLite quantizes: rint(x / scale) + zero_point, clipped. */
    public static byte[] quantize(float[] values, Quantization quantization, String dtype) {
        int min;
        int max;
        if ("uint8".equals(dtype)) {
            min = 0;
            max = 255;
        } else if ("int8".equals(dtype)) {
            min = -128;
            max = 127;
        } else {
            throw new BrainEdgeException("cannot quantize to " + dtype + "; expected uint8 or int8");
        }
        float scale = (float) quantization.scale;
        float zeroPoint = (float) quantization.zeroPoint;
        byte[] out = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            float steps = (float) Math.rint(values[i] / scale) + zeroPoint;
            float clipped = Math.max((float) min, Math.min((float) max, steps));
            out[i] = (byte) (int) clipped;
        }
        return out;
    }
}
