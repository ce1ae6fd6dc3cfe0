package org.brainedge.core;

/** A problem the user can fix (a wrong bundle, an unreadable image), told in one line. */
public class BrainEdgeException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public BrainEdgeException(String message) {
        super(message);
    }
}
