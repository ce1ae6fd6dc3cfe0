package org.brainedge.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** labels.txt: one class name per line, read by the same rules as the Python runtime. */
public final class Labels {
    private Labels() {
    }

    /** Blank lines at the end are ignored; an empty file or a blank line inside is refused. */
    public static List<String> parse(String text, String source) {
        List<String> lines = new ArrayList<String>(Arrays.asList(text.split("\r\n|\r|\n", -1)));
        while (!lines.isEmpty() && lines.get(lines.size() - 1).trim().isEmpty()) {
            lines.remove(lines.size() - 1);
        }
        if (lines.isEmpty()) {
            throw new BrainEdgeException(source + ": labels file is empty");
        }
        List<String> labels = new ArrayList<String>();
        for (String line : lines) {
            if (line.trim().isEmpty()) {
                throw new BrainEdgeException(source + ": blank line inside the labels file");
            }
            labels.add(line.trim());
        }
        return labels;
    }
}
