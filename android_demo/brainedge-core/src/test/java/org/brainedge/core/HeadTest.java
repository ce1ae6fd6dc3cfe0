package org.brainedge.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import org.junit.Test;

/** The head's arithmetic on numbers worked by hand, and its refusals of a head file that does not fit. */
public class HeadTest {
    private static final String TWO_CLASSES = "\"class_names\": [\"a\", \"b\"]";

    /** Metadata of a 1 x 2 x 2 feature map, one dense layer 2 -> 2, temperature 2, an OOD model with k = 1. */
    private static BundleMetadata metadata(String extra) {
        String json = metadataJson();
        return BundleMetadata.parse(json.substring(0, json.length() - 1) + ", \"calibration\": {\"temperature\": 2.0}"
                + extra + "}", "m");
    }

    /** The same bundle without calibration or OOD model. */
    private static String metadataJson() {
        return "{\"schema_version\": 2, \"model_file\": \"m.tflite\", \"model_format\": "
                + "\"tflite\", \"variant\": \"float32\", \"model_sha256\": \"ab\", " + TWO_CLASSES + ", "
                + "\"input\": {\"height\": 8, \"width\": 8}, \"output\": {\"num_classes\": 2}, "
                + "\"head\": {\"file\": \"head.safetensors\", \"sha256\": \"" + repeat('0', 64) + "\", "
                + "\"feature_map\": [1, 2, 2], \"layers\": [{\"kernel\": \"k\", \"bias\": \"b\"}]}}";
    }

    private static final String OOD = ", \"out_of_distribution\": {\"threshold\": 3.0, \"class_means\": \"m\", "
            + "\"basis\": \"B\", \"variances\": \"v\", \"residual_variance\": 0.5}";

    private static String repeat(char c, int n) {
        char[] chars = new char[n];
        Arrays.fill(chars, c);
        return new String(chars);
    }

    /** kernel [[1, 0], [0, -1]], bias [0.5, 0], means [[0, 0], [4, 4]], basis [[1], [0]], variances [2]. */
    private static byte[] headFile(String kernelShape) {
        String header = "{\"k\":{\"dtype\":\"F32\",\"shape\":" + kernelShape + ",\"data_offsets\":[0,16]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]},"
                + "\"m\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[24,40]},"
                + "\"B\":{\"dtype\":\"F32\",\"shape\":[2,1],\"data_offsets\":[40,48]},"
                + "\"v\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[48,52]}}";
        return SafeTensorsTest.file(header, SafeTensorsTest.floats(1, 0, 0, -1, 0.5f, 0, 0, 0, 4, 4, 1, 0, 2));
    }

    @Test
    public void poolsAppliesTheLayersAndScoresByHand() {
        Head head = Head.load(metadata(OOD), headFile("[2,2]"), "head.safetensors");
        // two positions (1, 3) and (3, 5): pooled (2, 4); logits (2 + 0.5, -4) ; T = 2
        Outputs outputs = head.run(new float[] {1, 3, 3, 5});
        assertArrayEquals(new double[] {2, 4}, outputs.features, 0);
        assertArrayEquals(new double[] {2.5, -4}, outputs.logits, 0);
        double e = Math.exp(-6.5 / 2);
        assertEquals(1 / (1 + e), outputs.probabilities[0], 1e-7);
        assertEquals(e / (1 + e), outputs.probabilities[1], 1e-7);
        assertArrayEquals(new float[] {1, 0},
                head.probabilities(new double[] {1000, -1000}, false), 0f);
        // class 0: r = (2, 4), z = 2: 4 / 2 + (20 - 4) / 0.5 = 34; class 1: r = (-2, 0): 4 / 2 + 0 = 2
        assertEquals(2.0, outputs.oodScore, 1e-12);
        assertFalse(outputs.outOfDistribution);
        assertTrue(head.run(new float[] {9, 0, 9, 0}).outOfDistribution);
        assertTrue(head.hasOutOfDistribution());
    }

    @Test
    public void reluZeroesNegativeHiddenUnitsButNeverTheLastLayer() {
        String twoLayers = "[{\"kernel\": \"k\", \"bias\": \"b\", \"activation\": \"relu\"}, "
                + "{\"kernel\": \"k\", \"bias\": \"b\"}]";
        BundleMetadata m = BundleMetadata.parse(
                metadataJson().replace("[{\"kernel\": \"k\", \"bias\": \"b\"}]", twoLayers), "m");
        Head head = Head.load(m, headFile("[2,2]"), "h");
        // features (2, 4) -> relu(2.5, -4) = (2.5, 0) -> (2.5 + 0.5, 0) ; the last layer keeps negatives
        assertArrayEquals(new double[] {3, 0}, head.logits(new double[] {2, 4}), 0);
        // features (0, -1) -> relu(0.5, 1) -> (0.5 + 0.5, -1): a negative logit survives
        assertArrayEquals(new double[] {1, -1}, head.logits(new double[] {0, -1}), 0);
    }

    @Test
    public void withoutAnOodModelTheStateIsNull() {
        Head head = Head.load(metadata(""), headFile("[2,2]"), "h");
        Outputs outputs = head.run(new float[] {1, 3, 3, 5});
        assertNull(outputs.oodScore);
        assertNull(outputs.outOfDistribution);
        assertFalse(head.hasOutOfDistribution());
        Prediction prediction = Postprocessor.rank(outputs, Arrays.asList("a", "b"), 2, 0.5);
        assertNull(prediction.outOfDistribution);
        assertFalse(prediction.notRecognised());
        assertEquals("a", prediction.headline());
    }

    @Test
    public void notRecognisedOutranksConfidentAndUncertain() {
        Head head = Head.load(metadata(OOD), headFile("[2,2]"), "h");
        Outputs far = head.run(new float[] {9, 0, 9, 0});
        Prediction confident = Postprocessor.rank(far, Arrays.asList("a", "b"), 1, 0.5);
        assertFalse(confident.uncertain);
        assertEquals(Prediction.NOT_RECOGNISED, confident.headline());
        Prediction uncertain = Postprocessor.rank(far, Arrays.asList("a", "b"), 1, 1.0);
        assertTrue(uncertain.uncertain);
        assertEquals(Prediction.NOT_RECOGNISED, uncertain.headline());
    }

    @Test
    public void aFeatureMapReadFromTheOutputBufferIsDequantizedFirst() {
        BundleMetadata m = BundleMetadata.parse(metadataJson().replace("\"output\": {\"num_classes\": 2}",
                "\"output\": {\"num_classes\": 2, \"dtype\": \"uint8\", \"quantization\": "
                        + "{\"scale\": 0.5, \"zero_point\": 2}}"), "m");
        Head head = Head.load(m, headFile("[2,2]"), "h");
        ByteBuffer raw = ByteBuffer.wrap(new byte[] {4, 8, 8, (byte) 12}).order(ByteOrder.LITTLE_ENDIAN);
        // (q - 2) * 0.5 = (1, 3, 3, 5): the hand-worked map above
        assertArrayEquals(new double[] {2, 4}, Postprocessor.outputs(raw, m, head).features, 0);
        try {
            Postprocessor.outputs(raw, m, null);
            fail("a head bundle was read without its head");
        } catch (BrainEdgeException expected) {
            assertTrue(expected.getMessage().contains("head.safetensors"));
        }
        try {
            Postprocessor.outputs(ByteBuffer.wrap(new byte[3]), m, head);
            fail("a short output buffer was read");
        } catch (BrainEdgeException expected) {
            assertTrue(expected.getMessage().contains("expected 4"));
        }
    }

    private static String refusal(BundleMetadata m, byte[] file) {
        try {
            Head.load(m, file, "head.safetensors");
        } catch (BrainEdgeException error) {
            assertTrue(error.getMessage(), error.getMessage().startsWith("head.safetensors: "));
            return error.getMessage();
        }
        fail("a head that does not fit was accepted");
        return null;
    }

    @Test
    public void refusesAHeadFileThatDoesNotFitTheMetadata() {
        assertTrue(refusal(metadata(""), headFile("[4]")).contains("head layer 0: kernel (4,) and bias (2,) "
                + "do not take 2 inputs"));
        assertTrue(refusal(metadata(""), headFile("[1,4]")).contains("do not take 2 inputs"));
        BundleMetadata missing = BundleMetadata.parse(metadataJson().replace("\"bias\": \"b\"",
                "\"bias\": \"dense.bias\""), "m");
        assertTrue(refusal(missing, headFile("[2,2]")).contains("no tensor named 'dense.bias'"));
        BundleMetadata threeClasses = BundleMetadata.parse(metadataJson().replace(TWO_CLASSES,
                "\"class_names\": [\"a\", \"b\", \"c\"]").replace("\"num_classes\": 2", "\"num_classes\": 3"), "m");
        assertTrue(refusal(threeClasses, headFile("[2,2]")).contains("the head has 2 outputs but there are 3 labels"));
        String swapped = OOD.replace("\"basis\": \"B\"", "\"basis\": \"m\"").replace("\"class_means\": \"m\"",
                "\"class_means\": \"B\"");
        assertTrue(refusal(metadata(swapped), headFile("[2,2]")).contains("B has shape (2, 1), expected (classes, 2)"));
        String wrongVariances = OOD.replace("\"variances\": \"v\"", "\"variances\": \"b\"");
        assertTrue(refusal(metadata(wrongVariances), headFile("[2,2]")).contains("do not fit 2 features"));
        byte[] negative = headFile("[2,2]");
        ByteBuffer.wrap(negative).order(ByteOrder.LITTLE_ENDIAN).putFloat(negative.length - 4, -2f);
        assertTrue(refusal(metadata(OOD), negative).contains("v: variances must be positive"));
        assertTrue(refusal(metadata(""), new byte[3]).contains("not a safetensors file"));
        try {
            Head.load(BundleMetadata.parse(Golden.text("metadata/int8.json"), "int8"), headFile("[2,2]"), "h");
            fail("a schema 1 bundle was given a head");
        } catch (BrainEdgeException | java.io.IOException expected) {
            assertTrue(expected.getMessage().contains("the bundle has no head"));
        }
    }

    @Test
    public void aHeadFileWithNanOrAnInfinityIsRefusedNamingTheTensor() {
        // headFile's data (the last 52 bytes): k at 0, b at 16, m at 24, B at 40, v at 48
        String[] names = {"k", "b", "m", "B", "v"};
        int[] offsets = {12, 16, 36, 44, 48};
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            for (int i = 0; i < names.length; i++) {
                byte[] file = headFile("[2,2]");
                ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).putFloat(file.length - 52 + offsets[i], bad);
                assertEquals(names[i] + " = " + bad, "head.safetensors: tensor '" + names[i]
                        + "' has non-finite values (NaN or infinity)", refusal(metadata(OOD), file));
            }
        }
    }

    @Test
    public void aFeatureMapWithNanOrAnInfinityGetsNoAnswer() {
        Head head = Head.load(metadata(OOD), headFile("[2,2]"), "h");
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            try {
                Outputs outputs = head.run(new float[] {1, bad, 3, 5});
                fail(bad + " was ranked: " + Arrays.toString(outputs.probabilities));
            } catch (BrainEdgeException expected) {
                assertEquals("the model's output is not finite (NaN or infinity): no answer", expected.getMessage());
            }
        }
    }

    @Test
    public void modelScoresWithNanOrAnInfinityGetNoAnswer() {
        for (String activation : new String[] {"none", "softmax"}) {
            String noHead = metadataJson().replaceFirst(", \"head\": .*\\}\\}$", "}");
            BundleMetadata m = BundleMetadata.parse(noHead.replace("\"num_classes\": 2}",
                    "\"num_classes\": 2, \"activation\": \"" + activation + "\"}"), "m");
            assertNull(m.head);
            for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
                ByteBuffer raw = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(0, 0.5f)
                        .putFloat(4, bad);
                try {
                    Outputs outputs = Postprocessor.outputs(raw, m, null);
                    fail(activation + " " + bad + " was ranked: " + Arrays.toString(outputs.probabilities));
                } catch (BrainEdgeException expected) {
                    assertEquals("the model's output is not finite (NaN or infinity): no answer",
                            expected.getMessage());
                }
            }
        }
    }

    @Test
    public void aFeatureMapOfTheWrongSizeIsRefused() {
        Head head = Head.load(metadata(""), headFile("[2,2]"), "h");
        try {
            head.run(new float[3]);
            fail("a 3-value feature map was pooled");
        } catch (BrainEdgeException expected) {
            assertTrue(expected.getMessage().contains("the head expects 1 x 2 x 2"));
        }
    }
}
