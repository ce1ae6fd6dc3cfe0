package org.brainedge.core;

/** How to read the model's output tensor. */
public final class OutputSpec {
    public static final String ACTIVATION_SOFTMAX = "softmax";
    public static final String ACTIVATION_NONE = "none";

    public final int numClasses;
    public final String dtype;
    /** Null for a float32 output. */
    public final Quantization quantization;
    /** "softmax" when the model outputs probabilities, "none" when it outputs logits. */
    public final String activation;

    public OutputSpec(int numClasses, String dtype, Quantization quantization, String activation) {
        this.numClasses = numClasses;
        this.dtype = dtype;
        this.quantization = quantization;
        this.activation = activation;
    }
}
