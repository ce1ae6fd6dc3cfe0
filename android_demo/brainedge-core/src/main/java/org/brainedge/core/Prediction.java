package org.brainedge.core;

import java.util.Collections;
import java.util.List;

/** Ranked classes for one image; uncertain when the best score is below the bundle's threshold. */
public final class Prediction {
    /** The phrase the app shows instead of a class below the threshold (as the Python runtime). */
    public static final String UNCERTAIN = "uncertain \u2014 refer for review";

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

    Prediction(List<Score> topK, boolean uncertain) {
        this.topK = Collections.unmodifiableList(topK);
        this.uncertain = uncertain;
    }

    public Score best() {
        return topK.get(0);
    }

    /** What to tell the user: the best class, or the uncertain phrase. */
    public String headline() {
        return uncertain ? UNCERTAIN : best().label;
    }
}
