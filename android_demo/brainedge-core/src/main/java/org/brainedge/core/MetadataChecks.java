package org.brainedge.core;

import java.util.regex.Pattern;

/**
 * What metadata.schema.json says of the schema 2 parts (head, calibration, out_of_distribution,
 * referral) beyond their keys and types: file-name and hash patterns, ranges and constants.
 * A value outside them would be computed with, not refused, so each is refused here by name.
 */
final class MetadataChecks {
    private static final Pattern FILE_NAME = Pattern.compile("[^/\\\\]+");
    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");

    private MetadataChecks() {
    }

    static void head(HeadSpec head, String source) {
        if (!FILE_NAME.matcher(head.file).matches() || head.file.equals(".") || head.file.equals("..")) {
            fail(source, "head.file \"" + head.file + "\" must be a file name in the bundle, not a path");
        }
        if (!SHA256.matcher(head.sha256).matches()) {
            fail(source, "head.sha256 must be 64 lower-case hex digits");
        }
        if (head.featureMap.length != 3) {
            fail(source, "head.feature_map must hold 3 integers (height, width, channels), found "
                    + head.featureMap.length);
        }
        for (int size : head.featureMap) {
            if (size < 1) {
                fail(source, "head.feature_map sizes must be at least 1, found " + size);
            }
        }
        if (head.layers.isEmpty()) {
            fail(source, "head.layers must hold at least one layer");
        }
        for (int i = 0; i < head.layers.size(); i++) {
            String activation = head.layers.get(i).activation;
            if (!DenseLayer.RELU.equals(activation) && !DenseLayer.NONE.equals(activation)) {
                fail(source, "head.layers[" + i + "].activation must be \"relu\" or \"none\", found \"" + activation
                        + "\"");
            }
        }
        expect(source, "head.pooling", HeadSpec.POOLING_AVERAGE, head.pooling);
    }

    static void calibration(Calibration calibration, String source) {
        positive(source, "calibration.temperature", calibration.temperature);
        expect(source, "calibration.method", Calibration.METHOD_TEMPERATURE, calibration.method);
    }

    static void outOfDistribution(OutOfDistribution ood, String source) {
        if (!(ood.threshold >= 0)) {
            fail(source, "out_of_distribution.threshold must be at least 0, found " + ood.threshold);
        }
        positive(source, "out_of_distribution.residual_variance", ood.residualVariance);
        expect(source, "out_of_distribution.method", OutOfDistribution.METHOD_PPCA_MAHALANOBIS, ood.method);
    }

    static void referral(Referral referral, String source) {
        if (!(referral.targetAccuracy > 0 && referral.targetAccuracy <= 1)) {
            fail(source, "referral.target_accuracy must be in (0, 1], found " + referral.targetAccuracy);
        }
        fraction(source, "referral.validation_coverage", referral.validationCoverage);
        fraction(source, "referral.validation_accuracy", referral.validationAccuracy);
        if (referral.validationCount < 0) {
            fail(source, "referral.validation_count must be at least 0, found " + referral.validationCount);
        }
    }

    private static void positive(String source, String key, double value) {
        if (!(value > 0) || Double.isInfinite(value)) {
            fail(source, key + " must be a positive number, found " + value);
        }
    }

    private static void fraction(String source, String key, double value) {
        if (!(value >= 0 && value <= 1)) {
            fail(source, key + " must be in [0, 1], found " + value);
        }
    }

    private static void expect(String source, String key, String expected, String found) {
        if (!expected.equals(found)) {
            fail(source, key + " must be \"" + expected + "\", found \"" + found + "\"");
        }
    }

    private static void fail(String source, String problem) {
        throw new BrainEdgeException(source + ": " + problem);
    }
}
