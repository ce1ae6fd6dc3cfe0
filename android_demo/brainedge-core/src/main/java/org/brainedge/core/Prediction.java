package org.brainedge.core;

import java.util.Collections;
import java.util.List;

/**
 * Ranked classes for one image; uncertain when the best score is below the bundle's threshold, out
 * of distribution when the image is unlike the training images (null: the bundle cannot tell).
 */
public final class Prediction {
    /** The phrase the app shows instead of a class below the threshold (as the Python runtime). */
    public static final String UNCERTAIN = "uncertain \u2014 refer for review";
    /** The phrase shown instead of any class for an image the bundle does not recognise (as Python). */
    public static final String NOT_RECOGNISED =
            "not recognised \u2014 this does not look like the images the model was trained on";

    /** One class and its probability. */
    public static final class Score {
        public final int index;
        public final String label;
        public final float score;

        Score(int index, String label, float score) {
            this.index = index;
            this.label = label;
            this.score = score;
        }
    }

    public final List<Score> topK;
    public final boolean uncertain;
    /** Null when the bundle has no out-of-distribution model. */
    public final Boolean outOfDistribution;
    /** The distance behind outOfDistribution (the bundle's metadata holds its threshold), or null. */
    public final Double oodScore;

    Prediction(List<Score> topK, boolean uncertain, Boolean outOfDistribution, Double oodScore) {
        this.topK = Collections.unmodifiableList(topK);
        this.uncertain = uncertain;
        this.outOfDistribution = outOfDistribution;
        this.oodScore = oodScore;
    }

    public Score best() {
        return topK.get(0);
    }

    /** True only when the bundle can tell and says the image is unlike its training images. */
    public boolean notRecognised() {
        return Boolean.TRUE.equals(outOfDistribution);
    }

    /**
     * What to tell the user: not recognised (no diagnosis at all, even when a class scores high),
     * else uncertain, else the best class; the order of the Python runtime's text output.
     */
    public String headline() {
        if (notRecognised()) {
            return NOT_RECOGNISED;
        }
        return uncertain ? UNCERTAIN : best().label;
    }
}
