package org.brainedge.core;

/**
 * How the bundle's confidence threshold was chosen: the lowest that reached the target accuracy
 * on validation images. Only a record; the threshold itself is {@link BundleMetadata#confidenceThreshold}.
 */
public final class Referral {
    public final double targetAccuracy;
    /** Share of validation images answered (not referred) at the chosen threshold. */
    public final double validationCoverage;
    public final double validationAccuracy;
    public final int validationCount;

    public Referral(double targetAccuracy, double validationCoverage, double validationAccuracy,
                    int validationCount) {
        this.targetAccuracy = targetAccuracy;
        this.validationCoverage = validationCoverage;
        this.validationAccuracy = validationAccuracy;
        this.validationCount = validationCount;
    }
}
