package org.brainedge.core;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Raw model output to ranked classes, as {@code Classifier.run} and {@code rank} do in Python:
 * dequantize, then the bundle's head when it has one (pooling, layers, temperature, OOD score),
 * else softmax only when the model outputs logits; stable top-k, confidence threshold.
 */
public final class Postprocessor {
    /** What an image gets when the model's output holds NaN or an infinity: Python's {@code NOT_FINITE}. */
    public static final String NOT_FINITE = "the model's output is not finite (NaN or infinity): no answer";

    private Postprocessor() {
    }

    /**
     * What one raw output buffer means: for a bundle with a head, the dequantized feature map through
     * {@code head} (which must be the bundle's); otherwise the class probabilities alone.
     */
    public static Outputs outputs(ByteBuffer raw, BundleMetadata metadata, Head head) {
        if (metadata.head == null) {
            if (head != null) {
                throw new IllegalArgumentException("a head was given for a bundle that has none");
            }
            return Outputs.ofProbabilities(probabilities(raw, metadata.output));
        }
        if (head == null) {
            throw new BrainEdgeException("the bundle's head (" + metadata.head.file + ") was not loaded");
        }
        return head.run(featureMap(raw, metadata.output, metadata.head.featureMapSize()));
    }

    /** Class probabilities from a raw output buffer (read from position 0, floats in its byte order). */
    public static float[] probabilities(ByteBuffer raw, OutputSpec spec) {
        return probabilities(read(raw, spec.dtype, spec.numClasses), spec);
    }

    /** A feature map from a raw output buffer, dequantized in float32 as Python's {@code dequantize}. */
    public static float[] featureMap(ByteBuffer raw, OutputSpec spec, int size) {
        float[] values = read(raw, spec.dtype, size);
        if (spec.quantization != null) {
            dequantizeInPlace(values, spec.quantization);
        }
        return values;
    }

    /** count values of a raw output buffer as numbers, still quantized. */
    private static float[] read(ByteBuffer raw, String dtype, int count) {
        float[] values = new float[count];
        long needed = (long) count * ("float32".equals(dtype) ? 4 : 1);
        if (raw.limit() < needed) {
            throw new BrainEdgeException("model output has " + raw.limit() + " bytes, expected " + needed);
        }
        for (int i = 0; i < values.length; i++) {
            if ("float32".equals(dtype)) {
                values[i] = raw.getFloat(4 * i);
            } else if ("uint8".equals(dtype)) {
                values[i] = raw.get(i) & 0xff;
            } else if ("int8".equals(dtype)) {
                values[i] = raw.get(i);
            } else {
                throw new BrainEdgeException("unsupported output dtype " + dtype);
            }
        }
        return values;
    }

    /**
     * Class probabilities from raw output values already read as numbers (quantized or not). Values
     * holding NaN or an infinity (a broken model) are refused with {@link #NOT_FINITE}, never ranked.
     */
    public static float[] probabilities(float[] raw, OutputSpec spec) {
        float[] values = raw.clone();
        if (spec.quantization != null) {
            dequantizeInPlace(values, spec.quantization);
        }
        if (!allFinite(values)) {
            throw new BrainEdgeException(NOT_FINITE);
        }
        if (OutputSpec.ACTIVATION_NONE.equals(spec.activation)) {
            return softmax(values);
        }
        return values;
    }

    static boolean allFinite(float[] values) {
        for (float value : values) {
            if (Float.isNaN(value) || Float.isInfinite(value)) {
                return false;
            }
        }
        return true;
    }

    /** (q - zeroPoint) * scale in float32. */
    static void dequantizeInPlace(float[] values, Quantization quantization) {
        float zeroPoint = (float) quantization.zeroPoint;
        float scale = (float) quantization.scale;
        for (int i = 0; i < values.length; i++) {
            values[i] = (values[i] - zeroPoint) * scale;
        }
    }

    /** softmax of float32 logits, computed as {@link #softmax(double[], double)} with temperature 1. */
    public static float[] softmax(float[] logits) {
        double[] values = new double[logits.length];
        for (int i = 0; i < logits.length; i++) {
            values[i] = logits[i];
        }
        return softmax(values, 1.0);
    }

    /**
     * softmax(logits / temperature) in double, rounded to float32 at the end, as Python's
     * {@code head.softmax}: the max is subtracted first, so huge logits cannot overflow.
     */
    public static float[] softmax(double[] logits, double temperature) {
        double max = Double.NEGATIVE_INFINITY;
        double[] scaled = new double[logits.length];
        for (int i = 0; i < logits.length; i++) {
            scaled[i] = logits[i] / temperature;
            max = Math.max(max, scaled[i]);
        }
        double sum = 0;
        for (int i = 0; i < scaled.length; i++) {
            scaled[i] = Math.exp(scaled[i] - max);
            sum += scaled[i];
        }
        float[] probabilities = new float[scaled.length];
        for (int i = 0; i < scaled.length; i++) {
            probabilities[i] = (float) (scaled[i] / sum);
        }
        return probabilities;
    }

    /**
     * The k most probable classes with the out-of-distribution state of the outputs (null when the
     * bundle has no OOD model), as Python's {@code rank(probabilities, top_k, ood_score)}.
     */
    public static Prediction rank(Outputs outputs, List<String> labels, int topK, double threshold) {
        Prediction ranked = rank(outputs.probabilities, labels, topK, threshold);
        return new Prediction(ranked.topK, ranked.uncertain, outputs.outOfDistribution, outputs.oodScore);
    }

    /**
     * The k most probable classes, best first; equal scores keep class order (numpy's stable argsort
     * of -p). Uncertain when the best score is below the threshold. No out-of-distribution state.
     */
    public static Prediction rank(final float[] probabilities, List<String> labels, int topK, double threshold) {
        if (topK < 1) {
            throw new IllegalArgumentException("topK must be at least 1, got " + topK);
        }
        if (labels.size() != probabilities.length) {
            throw new BrainEdgeException(probabilities.length + " scores but " + labels.size() + " labels");
        }
        Integer[] order = new Integer[probabilities.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, new Comparator<Integer>() {
            @Override
            public int compare(Integer a, Integer b) {
                return descending(probabilities[a], probabilities[b]);
            }
        });
        List<Prediction.Score> ranked = new ArrayList<Prediction.Score>();
        for (int i = 0; i < Math.min(topK, order.length); i++) {
            ranked.add(new Prediction.Score(order[i], labels.get(order[i]), probabilities[order[i]]));
        }
        return new Prediction(ranked, (double) ranked.get(0).score < threshold, null, null);
    }

    /** Larger first; NaN last; 0.0 and -0.0 equal (numpy compares values, not bits). */
    private static int descending(float a, float b) {
        if (Float.isNaN(a) || Float.isNaN(b)) {
            return Boolean.compare(Float.isNaN(a), Float.isNaN(b));
        }
        return a > b ? -1 : (a < b ? 1 : 0);
    }
}
