package org.brainedge.core;

import java.util.Map;

/**
 * Temperature scaling, fitted at export on validation images: probabilities are
 * softmax(logits / temperature), so that the scores track how often the answer is right.
 */
public final class Calibration {
    public static final String METHOD_TEMPERATURE = "temperature";

    public final double temperature;
    public final String method;
    /** Where it was fitted and what it changed, kept as parsed JSON for display. */
    public final Map<String, Object> fit;

    public Calibration(double temperature, String method, Map<String, Object> fit) {
        this.temperature = temperature;
        this.method = method;
        this.fit = fit;
    }
}
