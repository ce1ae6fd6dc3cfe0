package org.brainedge.core;

/** How to turn an image into the model's input tensor, as the bundle's metadata.json says. */
public final class InputSpec {
    public final int height;
    public final int width;
    public final int channels;
    public final String colorMode;
    public final String dtype;
    /** Null for a float32 input. */
    public final Quantization quantization;
    public final String resizeMethod;
    public final float[] mean;
    public final float[] std;

    public InputSpec(int height, int width, int channels, String colorMode, String dtype,
                     Quantization quantization, String resizeMethod, float[] mean, float[] std) {
        this.height = height;
        this.width = width;
        this.channels = channels;
        this.colorMode = colorMode;
        this.dtype = dtype;
        this.quantization = quantization;
        this.resizeMethod = resizeMethod;
        this.mean = mean.clone();
        this.std = std.clone();
    }

    /** Elements in one 1 x height x width x channels input. */
    public int elementCount() {
        return height * width * channels;
    }
}
