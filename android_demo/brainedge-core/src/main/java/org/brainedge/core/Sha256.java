package org.brainedge.core;

import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/** File digests, compared with metadata.json's before the model (and the head) are trusted. */
public final class Sha256 {
    private Sha256() {
    }

    /** Lower-case hex SHA-256 of everything the stream holds (the stream is read, not closed). */
    public static String hex(InputStream stream) throws IOException {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException impossible) {
            throw new IllegalStateException(impossible);
        }
        byte[] chunk = new byte[1 << 16];
        for (int n = stream.read(chunk); n != -1; n = stream.read(chunk)) {
            digest.update(chunk, 0, n);
        }
        StringBuilder hex = new StringBuilder();
        for (byte b : digest.digest()) {
            hex.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
        }
        return hex.toString();
    }

    /** Refuse a model whose digest is not the one the bundle was written with. */
    public static void check(String actual, BundleMetadata metadata, String modelSource) {
        check(actual, metadata.modelSha256, modelSource, "model");
    }

    /** Refuse a head file whose digest is not head.sha256: its weights decide every answer. */
    public static void checkHead(String actual, BundleMetadata metadata, String headSource) {
        if (metadata.head == null) {
            throw new BrainEdgeException(headSource + ": the bundle metadata names no head");
        }
        check(actual, metadata.head.sha256, headSource, "head");
    }

    private static void check(String actual, String expected, String source, String what) {
        if (!actual.equals(expected)) {
            throw new BrainEdgeException(source + ": sha256 " + actual.substring(0, 12) + "\u2026 does not match "
                    + "the bundle metadata (" + shortHash(expected) + "\u2026); the " + what + " was changed");
        }
    }

    private static String shortHash(String hash) {
        return hash.length() > 12 ? hash.substring(0, 12) : hash;
    }
}
