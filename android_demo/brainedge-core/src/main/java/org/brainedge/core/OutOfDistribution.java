package org.brainedge.core;

import java.util.Map;

/**
 * Refusal of images unlike the training images: a Mahalanobis distance of the pooled features to
 * the nearest class mean, under one shared covariance kept as probabilistic PCA (the leading
 * directions and their variances, one residual variance for all others). Above the threshold the
 * image is not recognised, whatever the class scores say.
 */
public final class OutOfDistribution {
    public static final String METHOD_PPCA_MAHALANOBIS = "ppca_mahalanobis";

    public final double threshold;
    /** Names of tensors in the head file: class means (classes, C), basis (C, k), variances (k). */
    public final String classMeans;
    public final String basis;
    public final String variances;
    public final double residualVariance;
    public final String method;
    /** The images it was fitted on and the validation rejection rate, kept as parsed JSON. */
    public final Map<String, Object> fit;

    public OutOfDistribution(double threshold, String classMeans, String basis, String variances,
                             double residualVariance, String method, Map<String, Object> fit) {
        this.threshold = threshold;
        this.classMeans = classMeans;
        this.basis = basis;
        this.variances = variances;
        this.residualVariance = residualVariance;
        this.method = method;
        this.fit = fit;
    }
}
