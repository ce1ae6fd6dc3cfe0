package org.brainedge.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The head of a schema 2 bundle: its model ends at the last feature map (H, W, C), and these
 * layers, kept in a separate file, turn the average-pooled features into logits.
 *
 * <p>Keeping the head outside the model gives the app the pooled features that the
 * out-of-distribution check needs, and float logits for calibration where an int8 model's own
 * output would be probabilities in steps of 1/256.
 */
public final class HeadSpec {
    public static final String POOLING_AVERAGE = "average";

    /** The head file's name in the bundle (safetensors, read by {@link SafeTensors}). */
    public final String file;
    public final String sha256;
    /** The model output's shape without the batch: height, width, channels. */
    public final int[] featureMap;
    public final List<DenseLayer> layers;
    public final String pooling;

    public HeadSpec(String file, String sha256, int[] featureMap, List<DenseLayer> layers, String pooling) {
        this.file = file;
        this.sha256 = sha256;
        this.featureMap = featureMap.clone();
        this.layers = Collections.unmodifiableList(new ArrayList<DenseLayer>(layers));
        this.pooling = pooling;
    }

    /** Values in one feature map: height x width x channels. */
    public int featureMapSize() {
        return featureMap[0] * featureMap[1] * featureMap[2];
    }

    /** Channels of the feature map: the length of the pooled feature vector. */
    public int channels() {
        return featureMap[2];
    }
}
