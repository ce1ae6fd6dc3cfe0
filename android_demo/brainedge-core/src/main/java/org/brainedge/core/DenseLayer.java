package org.brainedge.core;

/** One dense layer of a bundle's head: {@code x @ kernel + bias}, then its activation. */
public final class DenseLayer {
    public static final String RELU = "relu";
    public static final String NONE = "none";

    /** Names of the layer's tensors in the head file: kernel (inputs, outputs), bias (outputs). */
    public final String kernel;
    public final String bias;
    /** "relu" or "none"; the last layer's softmax is the runtime's, after the temperature. */
    public final String activation;

    public DenseLayer(String kernel, String bias, String activation) {
        this.kernel = kernel;
        this.bias = bias;
        this.activation = activation;
    }
}
