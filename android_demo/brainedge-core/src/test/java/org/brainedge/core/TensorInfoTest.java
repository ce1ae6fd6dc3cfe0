package org.brainedge.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import org.junit.Test;

/** A head bundle's model must output the feature map its head expects; the output buffer holds all of it. */
public class TensorInfoTest {

    private static void assertRefused(TensorInfo output, BundleMetadata m, String what) {
        try {
            TensorInfo.checkModelMatches(new TensorInfo(new int[] {1, 32, 32, 3}, "float32", null), output, m);
            fail("accepted a model whose output has " + what);
        } catch (BrainEdgeException expected) {
            assertTrue(expected.getMessage(), expected.getMessage().startsWith("model output"));
        }
    }

    @Test
    public void aHeadBundlesModelOutputsTheFeatureMap() throws Exception {
        BundleMetadata m = Golden.metadata("metadata/head_int8.json");
        Quantization q = m.output.quantization;
        TensorInfo.checkModelMatches(new TensorInfo(new int[] {1, 32, 32, 3}, "float32", null),
                new TensorInfo(new int[] {1, 3, 3, 16}, "int8", q), m);
        assertRefused(new TensorInfo(new int[] {1, 4}, "int8", q), m, "class scores instead of a feature map");
        assertRefused(new TensorInfo(new int[] {1, 3, 16, 3}, "int8", q), m, "the axes swapped");
        assertRefused(new TensorInfo(new int[] {1, 3, 3, 16}, "uint8", q), m, "another dtype");
        assertRefused(new TensorInfo(new int[] {1, 3, 3, 16}, "int8", new Quantization(0.1, 0)), m,
                "another quantization");
    }

    @Test
    public void theOutputBufferIsSizedFromTheShape() {
        assertEquals(144, new TensorInfo(new int[] {1, 3, 3, 16}, "int8", null).byteCount());
        assertEquals(576, new TensorInfo(new int[] {1, 3, 3, 16}, "float32", null).byteCount());
        assertEquals(4004, new TensorInfo(new int[] {1, 1001}, "float32", null).byteCount());
        try {
            new TensorInfo(new int[] {1, 4}, "int16", null).byteCount();
            fail("an int16 tensor was sized");
        } catch (BrainEdgeException expected) {
            assertTrue(expected.getMessage().contains("int16"));
        }
    }
}
