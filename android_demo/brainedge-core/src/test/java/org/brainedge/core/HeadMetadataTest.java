package org.brainedge.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Map;
import org.junit.Test;

/** Schema 2 metadata (head, calibration, out_of_distribution, referral) as the Python runtime wrote it. */
public class HeadMetadataTest {

    private static String json(String variant) throws Exception {
        return Golden.text("metadata/" + variant + ".json");
    }

    private static String refusal(String json) {
        return MetadataRefusal.of(json);
    }

    @Test
    public void readsEverySchemaTwoFieldPythonWrote() throws Exception {
        BundleMetadata m = BundleMetadata.parse(json("head_float32"), "head_float32.json");
        assertEquals(2, m.schemaVersion);
        assertEquals("head.safetensors", m.head.file);
        assertEquals(64, m.head.sha256.length());
        assertArrayEquals(new int[] {3, 3, 16}, m.head.featureMap);
        assertEquals(144, m.head.featureMapSize());
        assertEquals(2, m.head.layers.size());
        assertEquals("dense_0.kernel", m.head.layers.get(0).kernel);
        assertEquals(DenseLayer.RELU, m.head.layers.get(0).activation);
        assertEquals(DenseLayer.NONE, m.head.layers.get(1).activation);
        assertEquals(HeadSpec.POOLING_AVERAGE, m.head.pooling);
        assertEquals(1.7, m.calibration.temperature, 0);
        assertEquals(1.7, m.temperature(), 0);
        assertEquals("val", m.calibration.fit.get("split"));
        assertEquals(40.0, m.outOfDistribution.threshold, 0);
        assertEquals("ood.basis", m.outOfDistribution.basis);
        assertEquals(0.05, m.outOfDistribution.residualVariance, 0);
        assertEquals(OutOfDistribution.METHOD_PPCA_MAHALANOBIS, m.outOfDistribution.method);
        assertEquals(0.95, m.referral.targetAccuracy, 0);
        assertEquals(64, m.referral.validationCount);
        assertEquals(0.6, m.confidenceThreshold, 0);
    }

    @Test
    public void nullPartsMeanTheBundleHasNone() throws Exception {
        BundleMetadata m = BundleMetadata.parse(json("head_plain"), "head_plain.json");
        assertTrue(json("head_plain").contains("\"calibration\": null"));
        assertArrayEquals(new int[] {2, 2, 8}, m.head.featureMap);
        assertNull(m.calibration);
        assertNull(m.outOfDistribution);
        assertNull(m.referral);
        assertEquals(1.0, m.temperature(), 0);
    }

    @Test
    public void defaultsAreThePythonDataclassDefaults() throws Exception {
        String json = json("head_uint8").replace(",\n        \"activation\": \"none\"", "")
                .replace(",\n    \"pooling\": \"average\"", "")
                .replace("\"method\": \"temperature\",", "")
                .replace("\"method\": \"ppca_mahalanobis\",", "");
        BundleMetadata m = BundleMetadata.parse(json, "defaults");
        assertEquals(DenseLayer.NONE, m.head.layers.get(0).activation);
        assertEquals(HeadSpec.POOLING_AVERAGE, m.head.pooling);
        assertEquals(Calibration.METHOD_TEMPERATURE, m.calibration.method);
        assertEquals(OutOfDistribution.METHOD_PPCA_MAHALANOBIS, m.outOfDistribution.method);
    }

    @Test
    public void qualificationWithoutAHeadIsRefused() throws Exception {
        Map<String, Object> document = BundleSchemaTest.document("metadata/head_uint8.json");
        document.put("head", null);
        assertTrue(refusal(Json.write(document)).contains("calibration needs a head"));
        document.put("calibration", null);
        assertTrue(refusal(Json.write(document)).contains("out_of_distribution needs a head"));
    }

    @Test
    public void refusesSchemaTwoValuesThatWouldBeMisread() throws Exception {
        String json = json("head_float32");
        String[][] cases = {
            {"\"file\": \"head.safetensors\"", "\"file\": \"../head.safetensors\"", "not a path"},
            {"\"file\": \"head.safetensors\"", "\"file\": \"model.tflite\"", "another file of the bundle"},
            {"\"file\": \"head.safetensors\"", "\"file\": \"metadata.json\"", "another file of the bundle"},
            {"\"sha256\": \"", "\"sha256\": \"X", "head.sha256"},
            {"\"activation\": \"relu\"", "\"activation\": \"sigmoid\"", "head.layers[0].activation"},
            {"\"pooling\": \"average\"", "\"pooling\": \"max\"", "head.pooling"},
            {"\"temperature\": 1.7", "\"temperature\": 0", "calibration.temperature"},
            {"\"temperature\": 1.7", "\"temperature\": -1.7", "calibration.temperature"},
            {"\"method\": \"temperature\"", "\"method\": \"platt\"", "calibration.method"},
            {"\"threshold\": 40.0", "\"threshold\": -1", "out_of_distribution.threshold"},
            {"\"residual_variance\": 0.05", "\"residual_variance\": 0.0", "residual_variance"},
            {"\"method\": \"ppca_mahalanobis\"", "\"method\": \"knn\"", "out_of_distribution.method"},
            {"\"target_accuracy\": 0.95", "\"target_accuracy\": 1.5", "referral.target_accuracy"},
            {"\"validation_coverage\": 0.8125", "\"validation_coverage\": -0.1", "referral.validation_coverage"},
            {"\"validation_count\": 64", "\"validation_count\": -1", "referral.validation_count"},
            {"\"validation_count\": 64", "\"validation_count\": 6.5", "referral.validation_count"},
        };
        for (String[] c : cases) {
            assertTrue(c[0], json.contains(c[0]));
            String message = refusal(json.replaceFirst(java.util.regex.Pattern.quote(c[0]),
                    java.util.regex.Matcher.quoteReplacement(c[1])));
            assertTrue(c[1] + ": " + message, message.contains(c[2]));
        }
        String twoDims = json.replaceFirst("\"feature_map\": \\[\\s*3,\\s*3,\\s*16\\s*\\]", "\"feature_map\": [3, 16]");
        assertTrue(refusal(twoDims).contains("head.feature_map must hold 3 integers"));
        String zero = json.replaceFirst("\"feature_map\": \\[\\s*3,", "\"feature_map\": [0,");
        assertTrue(refusal(zero).contains("at least 1"));
        String fractional = json.replaceFirst("\"feature_map\": \\[\\s*3,", "\"feature_map\": [3.0,");
        assertTrue(refusal(fractional).contains("head.feature_map\" must hold integers"));
        String noLayers = json.replaceFirst("(?s)\"layers\": \\[.*?\\],\\s*\"pooling\"", "\"layers\": [], \"pooling\"");
        assertTrue(refusal(noLayers).contains("at least one layer"));
    }
}
