package org.brainedge.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;
import org.junit.Test;

public class BundleMetadataTest {

    private static String int8Json() throws Exception {
        return Golden.text("metadata/int8.json");
    }

    private static String refusal(String json) {
        return MetadataRefusal.of(json);
    }

    @Test
    public void readsEveryFieldPythonWrote() throws Exception {
        BundleMetadata m = BundleMetadata.parse(int8Json(), "int8.json");
        assertEquals(1, m.schemaVersion);
        assertEquals("model.tflite", m.modelFile);
        assertEquals(Arrays.asList("glioma", "meningioma", "notumor", "pituitary"), m.classNames);
        assertEquals(48, m.input.height);
        assertEquals("int8", m.input.dtype);
        assertEquals(-1, m.input.quantization.zeroPoint);
        assertEquals(0.007843137718737125, m.input.quantization.scale, 0);
        assertEquals(127.5f, m.input.mean[2], 0f);
        assertEquals(-128, m.output.quantization.zeroPoint);
        assertEquals(0.6, m.confidenceThreshold, 0);
        assertEquals("labels.txt", m.labelsFile);
        assertEquals("android_demo/tools/make_golden.py", m.provenance.get("generator"));
    }

    @Test
    public void appliesPythonsDefaultsForOptionalFields() {
        String json = "{\"schema_version\": 1, \"model_file\": \"m.tflite\", \"model_format\": \"tflite\","
                + " \"variant\": \"float32\", \"model_sha256\": \"ab\", \"class_names\": [\"a\", \"b\"],"
                + " \"input\": {\"height\": 8, \"width\": 9}, \"output\": {\"num_classes\": 2}}";
        BundleMetadata m = BundleMetadata.parse(json, "m");
        assertEquals("float32", m.input.dtype);
        assertNull(m.input.quantization);
        assertEquals(BundleMetadata.RESIZE_METHOD, m.input.resizeMethod);
        assertEquals(127.5f, m.input.std[0], 0f);
        assertEquals("softmax", m.output.activation);
        assertEquals(0.5, m.confidenceThreshold, 0);
    }

    @Test
    public void refusesANewerSchemaVersion() throws Exception {
        String message = refusal(int8Json().replace("\"schema_version\": 1", "\"schema_version\": 3"));
        assertTrue(message, message.contains("schema version 3 is newer"));
        assertTrue(refusal(int8Json().replace("\"schema_version\": 1", "\"schema_version\": \"1\""))
                .contains("no integer schema_version"));
        assertTrue(refusal(int8Json().replace("\"schema_version\": 1", "\"schema_version\": 0"))
                .contains("schema version 0 does not exist"));
        String newerWithNewKeys = int8Json().replace("\"schema_version\": 1", "\"schema_version\": 3")
                .replace("\"verification\"", "\"explanations\": {}, \"verification\"");
        assertTrue("a newer bundle's new key is not the first complaint",
                refusal(newerWithNewKeys).contains("schema version 3 is newer"));
    }

    @Test
    public void aSchemaOneBundleReadsAsBefore() throws Exception {
        BundleMetadata m = BundleMetadata.parse(int8Json(), "int8.json");
        assertEquals(1, m.schemaVersion);
        assertNull(m.head);
        assertNull(m.calibration);
        assertNull(m.outOfDistribution);
        assertNull(m.referral);
        assertEquals(1.0, m.temperature(), 0);
        assertEquals(2, BundleMetadata.SCHEMA_VERSION);
    }

    @Test
    public void aSchemaOneBundleThatClaimsASchemaTwoPartIsRefusedByName() throws Exception {
        String sha256 = new String(new char[64]).replace('\0', 'a');
        String head = "\"head\": {\"file\": \"head.safetensors\", \"sha256\": \"" + sha256
                + "\", \"feature_map\": [1, 1, 4], \"layers\": [{\"kernel\": \"k\", \"bias\": \"b\"}]}";
        String[][] parts = {
            {"head", head},
            {"calibration", "\"calibration\": {\"temperature\": 1.5}"}, // refused before "needs a head"
            {"out_of_distribution", "\"out_of_distribution\": {\"threshold\": 3.0, \"class_means\": \"m\", "
                    + "\"basis\": \"B\", \"variances\": \"v\", \"residual_variance\": 0.5}"},
            {"referral", "\"referral\": {\"target_accuracy\": 0.9, \"validation_coverage\": 0.5, "
                    + "\"validation_accuracy\": 0.9, \"validation_count\": 10}"},
        };
        for (String[] part : parts) {
            String json = int8Json().replace("\"verification\"", part[1] + ", \"verification\"");
            assertEquals("metadata.json: " + part[0] + ": needs schema_version 2, found 1", refusal(json));
        }
        String nulls = int8Json().replace("\"verification\"", "\"head\": null, \"calibration\": null, "
                + "\"out_of_distribution\": null, \"referral\": null, \"verification\"");
        assertNull(BundleMetadata.parse(nulls, "metadata.json").head);
    }

    @Test
    public void refusesAnUnknownResizeMethod() throws Exception {
        String message = refusal(int8Json().replace("bilinear_half_pixel", "nearest"));
        assertTrue(message, message.contains("unsupported resize method \"nearest\""));
    }

    @Test
    public void refusesMalformedMetadataWithTheFieldNamed() throws Exception {
        assertTrue(refusal(int8Json().replace("\"height\": 48,", "")).contains("missing \"input.height\""));
        assertTrue(refusal(int8Json().replace("\"height\": 48", "\"height\": 48.5")).contains("input.height"));
        assertTrue(refusal(int8Json().replace("\"variant\"", "\"flavour\"")).contains("unexpected key \"flavour\""));
        assertTrue(refusal("{\"schema_version\": 1,").contains("not valid JSON"));
        assertTrue(refusal("[1]").contains("not a JSON object"));
    }

    @Test
    public void refusesWhatWouldBeSilentlyMisread() throws Exception {
        String json = int8Json();
        assertTrue(refusal(json.replace("\"dtype\": \"int8\"", "\"dtype\": \"int16\"")).contains("int16"));
        assertTrue(refusal(json.replace("\"activation\": \"softmax\"", "\"activation\": \"sigmoid\""))
                .contains("sigmoid"));
        assertTrue(refusal(json.replace("\"num_classes\": 4", "\"num_classes\": 5")).contains("num_classes"));
        assertTrue(refusal(json.replace("\"channels\": 3", "\"channels\": 1")).contains("expected 3 x RGB"));
        String unquantized = json.replaceFirst("\"quantization\": \\{[^}]*\\}", "\"quantization\": null");
        assertTrue(refusal(unquantized).contains("input is int8 but has no quantization"));
    }

    @Test
    public void labelsMustMatchClassNames() throws Exception {
        BundleMetadata m = BundleMetadata.parse(int8Json(), "int8.json");
        m.checkLabels(Labels.parse("glioma\nmeningioma\nnotumor\npituitary\n\n", "labels.txt"), "labels.txt");
        try {
            m.checkLabels(Labels.parse("glioma\nmeningioma\npituitary\nnotumor\n", "labels.txt"), "labels.txt");
            fail("reordered labels were accepted");
        } catch (BrainEdgeException expected) {
            assertTrue(expected.getMessage().contains("labels differ"));
        }
    }

    @Test
    public void labelsFileRulesMatchPython() {
        assertEquals(Arrays.asList("a", "b"), Labels.parse(" a \r\nb\n\n \n", "l"));
        for (String bad : new String[] {"", "\n\n", "a\n\nb\n"}) {
            try {
                Labels.parse(bad, "l");
                fail("accepted labels " + Arrays.toString(bad.getBytes()));
            } catch (BrainEdgeException expected) {
                assertTrue(expected.getMessage().startsWith("l: "));
            }
        }
    }
}
