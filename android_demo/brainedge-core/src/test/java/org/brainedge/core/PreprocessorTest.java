package org.brainedge.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import org.junit.Test;

public class PreprocessorTest {

    @Test
    public void quantizeRoundsHalfToEvenAndClips() {
        Quantization unit = new Quantization(1.0, 0);
        byte[] q = Preprocessor.quantize(new float[] {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 300f, -300f}, unit, "int8");
        assertArrayEquals(new byte[] {0, 2, 2, 0, -2, 127, -128}, q);
        byte[] u = Preprocessor.quantize(new float[] {-1f, 0f, 1f}, new Quantization(1.0 / 128, 128), "uint8");
        assertEquals(0, u[0] & 0xff);
        assertEquals(128, u[1] & 0xff);
        assertEquals(255, u[2] & 0xff);
    }

    @Test
    public void resizeToTheSameSizeIsTheIdentity() {
        byte[] rgb = new byte[5 * 4 * 3];
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = (byte) (i * 7);
        }
        float[] resized = Preprocessor.resizeBilinear(RgbImage.fromRgb(rgb, 5, 4), 4, 5);
        for (int i = 0; i < rgb.length; i++) {
            assertEquals(rgb[i] & 0xff, resized[i], 0f);
        }
    }

    @Test
    public void halfPixelCentresAverageNeighboursWhenHalving() {
        byte[] gray = {0, 100, (byte) 200, (byte) 250};
        float[] resized = Preprocessor.resizeBilinear(RgbImage.fromGray(gray, 4, 1), 1, 2);
        assertEquals(50f, resized[0], 0f);
        assertEquals(225f, resized[3], 0f);
    }

    @Test
    public void refusesWhatTheContractDoesNotCover() {
        InputSpec nearest = new InputSpec(2, 2, 3, "RGB", "float32", null, "nearest",
                new float[] {0, 0, 0}, new float[] {1, 1, 1});
        try {
            Preprocessor.toInputTensor(RgbImage.fromGray(new byte[4], 2, 2), nearest);
            fail("nearest resize was accepted");
        } catch (BrainEdgeException expected) {
            assertTrue(expected.getMessage().contains("nearest"));
        }
    }

    @Test
    public void compositesTransparencyOverBlackLikePillow() {
        for (int value = 0; value < 256; value++) {
            assertEquals(value, RgbImage.overBlack(value, 255));
            assertEquals(0, RgbImage.overBlack(value, 0));
        }
        assertEquals(64, RgbImage.overBlack(128, 128));
        int[] argb = {0x80ff8040, 0xff010203};
        byte[] rgba = {(byte) 0xff, (byte) 0x80, 0x40, (byte) 0x80, 1, 2, 3, (byte) 0xff};
        assertArrayEquals(RgbImage.fromRgba(rgba, 2, 1).toArgb(), RgbImage.fromArgb(argb, 2, 1).toArgb());
    }

    @Test
    public void modelMismatchesAreRefused() throws Exception {
        BundleMetadata m = Golden.metadata("metadata/int8.json");
        Quantization in = m.input.quantization;
        Quantization out = m.output.quantization;
        TensorInfo.checkModelMatches(new TensorInfo(new int[] {1, 48, 48, 3}, "int8", in),
                new TensorInfo(new int[] {1, 4}, "int8", out), m);
        String[][] wrong = {
            {"size", "1,96,96,3", "int8", "in", "1,4"},
            {"dtype", "1,48,48,3", "uint8", "in", "1,4"},
            {"quantization", "1,48,48,3", "int8", "none", "1,4"},
            {"classes", "1,48,48,3", "int8", "in", "1,5"},
        };
        for (String[] w : wrong) {
            try {
                TensorInfo.checkModelMatches(new TensorInfo(ints(w[1]), w[2], w[3].equals("in") ? in : null),
                        new TensorInfo(ints(w[4]), "int8", out), m);
                fail("model with wrong " + w[0] + " was accepted");
            } catch (BrainEdgeException expected) {
                assertTrue(expected.getMessage().startsWith("model"));
            }
        }
    }

    private static int[] ints(String csv) {
        String[] parts = csv.split(",");
        int[] values = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            values[i] = Integer.parseInt(parts[i]);
        }
        return values;
    }
}
