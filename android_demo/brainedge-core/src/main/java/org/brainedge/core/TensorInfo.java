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
     * Bytes of the whole tensor from its shape and dtype: what an output buffer must hold (the
     * class scores, or the feature map of a bundle with a head).
     */
    public int byteCount() {
        if (!BundleMetadata.DTYPES.contains(dtype)) {
            throw new BrainEdgeException("unsupported tensor dtype " + dtype);
        }
        long bytes = "float32".equals(dtype) ? 4 : 1;
        for (int dim : shape) {
            bytes *= dim;
        }
        if (bytes > Integer.MAX_VALUE) {
            throw new BrainEdgeException("tensor of shape " + Arrays.toString(shape) + " is too large");
        }
        return (int) bytes;
    }

    /**
     * Refuse a model that does not match its metadata, with the Python runtime's checks: input
     * shape, dtype and quantization; the number of classes, or for a bundle with a head, the
     * feature map its head expects. Output dtype and quantization are checked for both.
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
        if (metadata.head != null) {
            int[] map = output.shape.length == 4 ? Arrays.copyOfRange(output.shape, 1, 4) : output.shape;
            if (!Arrays.equals(map, metadata.head.featureMap)) {
                throw new BrainEdgeException("model output is " + Arrays.toString(output.shape)
                        + ", the head expects " + Arrays.toString(metadata.head.featureMap));
            }
        }
        int classes = output.shape.length == 0 ? 0 : output.shape[output.shape.length - 1];
        if (metadata.head == null
                && (classes != metadata.output.numClasses || classes != metadata.classNames.size())) {
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
