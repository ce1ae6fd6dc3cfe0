package org.brainedge.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/**
 * What the Python runtime refuses, the Java core refuses with the same one line (make_golden.py
 * records each message): a schema 1 bundle that claims a schema 2 part, a head file with NaN or an
 * infinity in a tensor the head computes with, and a model output that is not finite.
 */
public class RefusalGoldenTest {

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> refusals(String kind) throws Exception {
        Map<String, Object> section = Golden.section("refusals");
        assertNotNull("cases.json has no refusals section; rerun make_golden.py", section);
        List<Map<String, Object>> cases = (List<Map<String, Object>>) section.get(kind);
        assertTrue("expected " + kind + " refusal goldens", cases != null && !cases.isEmpty());
        return cases;
    }

    /** A golden file with one little-endian float32 replaced by the case's value ("NaN", "-Infinity"...). */
    private static byte[] patched(String relative, Map<String, Object> c) throws Exception {
        byte[] data = Golden.bytes(relative);
        int offset = ((Number) c.get("offset")).intValue();
        float value = Float.parseFloat((String) c.get("value"));
        ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).putFloat(offset, value);
        return data;
    }

    private static String describe(Map<String, Object> c) {
        return c.get("head") + " " + c.get("raw") + " " + c.get("tensor") + " = " + c.get("value");
    }

    @Test
    @SuppressWarnings("unchecked")
    public void aSchemaOneBundleClaimingASchemaTwoPartIsRefusedAsPythonRefusesIt() throws Exception {
        for (Map<String, Object> c : refusals("metadata")) {
            String json = Json.write((Map<String, Object>) c.get("document"));
            String expected = (String) c.get("message");
            if (expected == null) {
                BundleMetadata metadata = BundleMetadata.parse(json, "metadata.json");
                assertEquals(c.get("name").toString(), 1, metadata.schemaVersion);
                continue;
            }
            assertEquals(c.get("name").toString(), expected, MetadataRefusal.of(json));
        }
    }

    @Test
    public void aHeadFileWithANonFiniteValueIsRefusedNamingTheTensor() throws Exception {
        for (Map<String, Object> c : refusals("heads")) {
            BundleMetadata metadata = Golden.metadata((String) c.get("metadata"));
            byte[] file = patched((String) c.get("head"), c);
            try {
                Head.load(metadata, file, "head.safetensors");
                fail(describe(c) + ": the head was loaded");
            } catch (BrainEdgeException expected) {
                assertEquals(describe(c), c.get("message"), expected.getMessage());
            }
        }
    }

    @Test
    public void aModelOutputThatIsNotFiniteGetsNoAnswer() throws Exception {
        assertEquals(Golden.section("phrases").get("not_finite"), Postprocessor.NOT_FINITE);
        for (Map<String, Object> c : refusals("outputs")) {
            BundleMetadata metadata = Golden.metadata((String) c.get("metadata"));
            String headFile = (String) c.get("head");
            Head head = headFile == null ? null : Head.load(metadata, Golden.bytes(headFile), headFile);
            ByteBuffer raw = ByteBuffer.wrap(patched((String) c.get("raw"), c)).order(ByteOrder.LITTLE_ENDIAN);
            try {
                Outputs outputs = Postprocessor.outputs(raw, metadata, head);
                fail(describe(c) + ": ranked as " + java.util.Arrays.toString(outputs.probabilities));
            } catch (BrainEdgeException expected) {
                assertEquals(describe(c), c.get("message"), expected.getMessage());
            }
        }
    }
}
