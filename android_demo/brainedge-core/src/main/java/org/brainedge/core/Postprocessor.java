package org.brainedge.core;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Raw model output to ranked classes, as {@code Classifier.probabilities} and {@code rank} do in Python:
 * dequantize, softmax only when the model outputs logits, stable top-k, confidence threshold.
 */
public final class Postprocessor {
    private Postprocessor() {
    }

    /** Class probabilities from a raw output buffer (read from position 0, floats in its byte order). */
    public static float[] probabilities(ByteBuffer raw, OutputSpec spec) {
        float[] values = new float[spec.numClasses];
        int needed = spec.numClasses * ("float32".equals(spec.dtype) ? 4 : 1);
        if (raw.limit() < needed) {
            throw new BrainEdgeException("model output has " + raw.limit() + " bytes, expected " + needed);
        }
        for (int i = 0; i < values.length; i++) {
            if ("float32".equals(spec.dtype)) {
                values[i] = raw.getFloat(4 * i);
            } else if ("uint8".equals(spec.dtype)) {
                values[i] = raw.get(i) & 0xff;
            } else if ("int8".equals(spec.dtype)) {
                values[i] = raw.get(i);
            } else {
                throw new BrainEdgeException("unsupported output dtype " + spec.dtype);
            }
        }
        return probabilities(values, spec);
    }

    /** Class probabilities from raw output values already read as numbers (quantized or not). */
    public static float[] probabilities(float[] raw, OutputSpec spec) {
        float[] values = raw.clone();
        if (spec.quantization != null) {
            dequantizeInPlace(values, spec.quantization);
        }
        if (OutputSpec.ACTIVATION_NONE.equals(spec.activation)) {
            return softmax(values);
        }
        return values;
    }

    /** (q - zeroPoint) * scale in float32. */
    static void dequantizeInPlace(float[] values, Quantization quantization) {
        float zeroPoint = (float) quantization.zeroPoint;
        float scale = (float) quantization.scale;
        for (int i = 0; i < values.length; i++) {
            values[i] = (values[i] - zeroPoint) * scale;
        }
    }

    /** exp(x - max) / sum, the max subtracted in float32 as numpy does, so huge logits cannot overflow. */
    public static float[] softmax(float[] logits) {
        float max = Float.NEGATIVE_INFINITY;
        for (float value : logits) {
            max = Math.max(max, value);
        }
        float[] shifted = new float[logits.length];
        double sum = 0;
        for (int i = 0; i < logits.length; i++) {
            shifted[i] = (float) Math.exp(logits[i] - max);
            sum += shifted[i];
        }
        float total = (float) sum;
        for (int i = 0; i < shifted.length; i++) {
            shifted[i] = shifted[i] / total;
        }
        return shifted;
    }

    /**
     * The k most probable classes, best first; equal scores keep class order (numpy's stable argsort
     * of -p). Uncertain when the best score is below the threshold.
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
        return new Prediction(ranked, (double) ranked.get(0).score < threshold);
    }

    /** Larger first; NaN last; 0.0 and -0.0 equal (numpy compares values, not bits). */
    private static int descending(float a, float b) {
        if (Float.isNaN(a) || Float.isNaN(b)) {
            return Boolean.compare(Float.isNaN(a), Float.isNaN(b));
        }
        return a > b ? -1 : (a < b ? 1 : 0);
    }
}
