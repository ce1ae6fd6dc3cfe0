package org.brainedge.core;

/**
 * One image through the model and, when the bundle has one, its head: Python's
 * {@code BatchOutputs} for one row. Ranked into a {@link Prediction} by {@link Postprocessor#rank}.
 */
public final class Outputs {
    /** Class probabilities, float32 as in Python; calibrated when the bundle carries a temperature. */
    public final float[] probabilities;
    /** Pooled features and logits (float64) of a bundle with a head; null otherwise. */
    public final double[] features;
    public final double[] logits;
    /** The out-of-distribution score, and whether it is above the bundle's threshold; null without an OOD model. */
    public final Double oodScore;
    public final Boolean outOfDistribution;

    Outputs(float[] probabilities, double[] features, double[] logits, Double oodScore, Boolean outOfDistribution) {
        this.probabilities = probabilities;
        this.features = features;
        this.logits = logits;
        this.oodScore = oodScore;
        this.outOfDistribution = outOfDistribution;
    }

    /** A model that outputs the class scores itself: nothing but probabilities. */
    static Outputs ofProbabilities(float[] probabilities) {
        return new Outputs(probabilities, null, null, null, null);
    }
}
