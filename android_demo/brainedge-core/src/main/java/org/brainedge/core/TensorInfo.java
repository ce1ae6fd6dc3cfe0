package org.brainedge.core;

import java.util.Arrays;

/** What an interpreter says about one of its tensors: shape, dtype and quantization (null if none). */
public final class TensorInfo {
    public final int[] shape;
    public final String dtype;
    public final Quantization quantization;

    public TensorInfo(int[] shape, String dtype, Quantization quantization) {
        this.shape = shape.clone();
        this.dtype = dtype;
        this.quantization = quantization;
    }

    /**
     * Refuse a model that does not match its metadata, with the Python runtime's checks: input
     * shape, dtype and quantization, and the number of classes.
     */
    public static void checkModelMatches(TensorInfo input, TensorInfo output, BundleMetadata metadata) {
        InputSpec spec = metadata.input;
        int[] expected = {spec.height, spec.width, spec.channels};
        int[] actual = input.shape.length == 4 ? Arrays.copyOfRange(input.shape, 1, 4) : input.shape;
        if (!Arrays.equals(actual, expected)) {
            throw new BrainEdgeException("model input is " + Arrays.toString(input.shape) + ", metadata says "
                    + Arrays.toString(expected));
        }
        if (!input.dtype.equals(spec.dtype)) {
            throw new BrainEdgeException("model input is " + input.dtype + ", metadata says " + spec.dtype);
        }
        if (!Quantization.same(input.quantization, spec.quantization)) {
            throw new BrainEdgeException("model input quantization is " + input.quantization + ", metadata says "
                    + spec.quantization);
        }
        int classes = output.shape.length == 0 ? 0 : output.shape[output.shape.length - 1];
        if (classes != metadata.output.numClasses || classes != metadata.classNames.size()) {
            throw new BrainEdgeException("model has " + classes + " outputs but there are "
                    + metadata.classNames.size() + " labels");
        }
        if (!output.dtype.equals(metadata.output.dtype)) {
            throw new BrainEdgeException("model output is " + output.dtype + ", metadata says " + metadata.output.dtype);
        }
        if (!Quantization.same(output.quantization, metadata.output.quantization)) {
            throw new BrainEdgeException("model output quantization is " + output.quantization + ", metadata says "
                    + metadata.output.quantization);
        }
    }
}
