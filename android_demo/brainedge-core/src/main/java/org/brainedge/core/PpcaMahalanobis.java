package org.brainedge.core;

import java.util.Map;

/**
 * Squared Mahalanobis distance to the nearest class mean under a probabilistic-PCA covariance, as
 * {@code PpcaMahalanobis} in {@code edge_runtime/head.py}. With orthonormal principal directions B
 * (C x k), their variances v and the residual variance s of every other direction, for
 * r = x - mean_c and z = B^T r: d_c = sum(z^2 / v) + max(|r|^2 - |z|^2, 0) / s; the score is the
 * minimum over classes. k directions instead of the full C x C matrix is what fits a phone.
 */
final class PpcaMahalanobis {
    private final double[][] classMeans;
    private final double[][] basis;
    private final double[] variances;
    private final double residualVariance;

    private PpcaMahalanobis(double[][] classMeans, double[][] basis, double[] variances, double residualVariance) {
        this.classMeans = classMeans;
        this.basis = basis;
        this.variances = variances;
        this.residualVariance = residualVariance;
    }

    /** The statistics the metadata names, refused when their shapes do not fit {@code channels} features. */
    static PpcaMahalanobis of(Map<String, FloatTensor> tensors, OutOfDistribution ood, int channels) {
        FloatTensor means = Head.tensor(tensors, ood.classMeans);
        FloatTensor basis = Head.tensor(tensors, ood.basis);
        FloatTensor variances = Head.tensor(tensors, ood.variances);
        if (means.rank() != 2 || means.dim(1) != channels || means.dim(0) < 1) {
            throw new BrainEdgeException(ood.classMeans + " has shape " + means.shapeText() + ", expected (classes, "
                    + channels + ")");
        }
        if (basis.rank() != 2 || basis.dim(0) != channels || variances.rank() != 1
                || variances.dim(0) != basis.dim(1)) {
            throw new BrainEdgeException(ood.basis + " " + basis.shapeText() + " and " + ood.variances + " "
                    + variances.shapeText() + " do not fit " + channels + " features");
        }
        double[] values = variances.toDoubles();
        for (double variance : values) {
            if (!(variance > 0)) {
                throw new BrainEdgeException(ood.variances + ": variances must be positive");
            }
        }
        return new PpcaMahalanobis(means.toMatrix(), basis.toMatrix(), values, ood.residualVariance);
    }

    double distance(double[] features) {
        double best = Double.POSITIVE_INFINITY;
        double[] residual = new double[features.length];
        for (double[] mean : classMeans) {
            double length = 0;
            for (int i = 0; i < features.length; i++) {
                residual[i] = features[i] - mean[i];
                length += residual[i] * residual[i];
            }
            double inside = 0;
            double projected = 0;
            for (int j = 0; j < variances.length; j++) {
                double z = 0;
                for (int i = 0; i < residual.length; i++) {
                    z += residual[i] * basis[i][j];
                }
                inside += z * z / variances[j];
                projected += z * z;
            }
            double distance = inside + Math.max((length - projected) / residualVariance, 0.0);
            best = Math.min(best, distance);
        }
        return best;
    }
}
