package org.brainedge.core;

import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

/** The message BundleMetadata refuses a document with; the test fails if it is accepted. */
final class MetadataRefusal {
    private MetadataRefusal() {
    }

    static String of(String json) {
        try {
            BundleMetadata.parse(json, "metadata.json");
        } catch (BrainEdgeException error) {
            assertTrue(error.getMessage(), error.getMessage().startsWith("metadata.json: "));
            return error.getMessage();
        }
        fail("metadata was accepted: " + json);
        return null;
    }
}
