package org.brainedge.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;
import org.junit.Test;

/** Class-activation maps, their upsampling and the viridis blend on numbers worked by hand. */
public class ClassMapTest {

    /** Two classes, a 1 x 2 x 2 feature map, the given layers (kernel "k" 2 x 2, bias "b"). */
    private static Head head(String layers) {
        char[] zeros = new char[64];
        Arrays.fill(zeros, '0');
        String json = "{\"schema_version\": 2, \"model_file\": \"m.tflite\", \"model_format\": \"tflite\", "
                + "\"variant\": \"float32\", \"model_sha256\": \"ab\", \"class_names\": [\"a\", \"b\"], "
                + "\"input\": {\"height\": 8, \"width\": 8}, \"output\": {\"num_classes\": 2}, "
                + "\"head\": {\"file\": \"head.safetensors\", \"sha256\": \"" + new String(zeros) + "\", "
                + "\"feature_map\": [1, 2, 2], \"layers\": " + layers + "}}";
        // kernel [[1, 0], [0, -1]]: class a weighs channel 0, class b the negative of channel 1
        String header = "{\"k\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}";
        byte[] file = SafeTensorsTest.file(header, SafeTensorsTest.floats(1, 0, 0, -1, 0.5f, -7));
        return Head.load(BundleMetadata.parse(json, "m"), file, "head.safetensors");
    }

    private static Head oneLayer() {
        return head("[{\"kernel\": \"k\", \"bias\": \"b\"}]");
    }

    private static String refusal(Head head, float[] featureMap, int classIndex) {
        try {
            head.classMap(featureMap, classIndex);
        } catch (BrainEdgeException error) {
            return error.getMessage();
        }
        fail("drew a map for class " + classIndex + " of " + Arrays.toString(featureMap));
        return null;
    }

    @Test
    public void theMapIsThePositivePartOfTheWeightedFeaturesOverItsMaximumWithoutTheBias() {
        Head head = oneLayer();
        assertTrue(head.drawsClassMaps());
        // positions (1, 3) and (3, 5): class a sees 1 and 3 -> (1/3, 1); class b sees -3 and -5 -> nothing
        ClassMap a = head.classMap(new float[] {1, 3, 3, 5}, 0);
        assertEquals(1, a.height);
        assertEquals(2, a.width);
        assertEquals(0, a.classIndex);
        assertArrayEquals(new double[] {1.0 / 3, 1}, a.values(), 0);
        assertEquals(1.0, a.get(0, 1), 0);
        assertFalse(a.isEmpty());
        ClassMap b = head.classMap(new float[] {1, 3, 3, 5}, 1);
        assertArrayEquals(new double[] {0, 0}, b.values(), 0);
        assertTrue(b.isEmpty());
        // a negative position is cut to zero, not scaled: (2, -1) and (-4, 1) -> a (1, 0), b (1, 0)
        assertArrayEquals(new double[] {1, 0}, head.classMap(new float[] {2, -1, -4, 1}, 0).values(), 0);
        assertArrayEquals(new double[] {1, 0}, head.classMap(new float[] {2, -1, -4, 1}, 1).values(), 0);
    }

    @Test
    public void aHeadWithAHiddenLayerAClassItLacksAndABrokenFeatureMapAreRefused() {
        Head hidden = head("[{\"kernel\": \"k\", \"bias\": \"b\", \"activation\": \"relu\"}, "
                + "{\"kernel\": \"k\", \"bias\": \"b\"}]");
        assertFalse(hidden.drawsClassMaps());
        assertEquals("class-activation maps need a head of one dense layer; this bundle's has 2",
                refusal(hidden, new float[] {1, 3, 3, 5}, 0));
        Head head = oneLayer();
        assertEquals("class index 2 is not one of the head's 2 classes", refusal(head, new float[4], 2));
        assertEquals("class index -1 is not one of the head's 2 classes", refusal(head, new float[4], -1));
        assertEquals("feature map has 3 values, the head expects 1 x 2 x 2", refusal(head, new float[3], 0));
        assertEquals(Postprocessor.NOT_FINITE, refusal(head, new float[] {1, Float.NaN, 3, 5}, 0));
        assertEquals(Postprocessor.NOT_FINITE, refusal(head, new float[] {1, 3, Float.POSITIVE_INFINITY, 5}, 1));
    }

    @Test
    public void upsamplingIsTheContractsHalfPixelResize() {
        ClassMap row = new ClassMap(0, 1, 2, new double[] {0, 1});
        // output centres (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25: clamped to the edges beyond them
        assertArrayEquals(new float[] {0, 0.25f, 0.75f, 1}, row.upsample(1, 4), 0f);
        assertArrayEquals(new float[] {0, 0.25f, 0.75f, 1, 0, 0.25f, 0.75f, 1}, row.upsample(2, 4), 0f);
        ClassMap column = new ClassMap(0, 2, 1, new double[] {0.25, 1});
        assertArrayEquals(new float[] {0.25f, 0.4375f, 0.8125f, 1}, column.upsample(4, 1), 0f);
        assertArrayEquals(new float[] {0.25f, 1}, column.upsample(2, 1), 0f); // same size: the map itself
    }

    @Test
    public void theBlendIsFiftyFivePercentImageAndFortyFivePercentViridis() {
        int pixel = 0xff6496c8; // (100, 150, 200)
        // viridis[0] = (68, 1, 84): 0.55 * (100, 150, 200) + 0.45 * (68, 1, 84) = (85.6, 82.95, 147.8)
        assertEquals(0xff000000 | 86 << 16 | 83 << 8 | 148, ClassMap.blend(pixel, 0f));
        // viridis[255] = (253, 231, 37): (168.85, 186.45, 126.65)
        assertEquals(0xff000000 | 169 << 16 | 186 << 8 | 127, ClassMap.blend(pixel, 1f));
        // 0.5 * 255 = 127.5 rounds half to even: step 128 = (33, 145, 140): (69.85, 147.75, 173)
        assertEquals(0xff000000 | 70 << 16 | 148 << 8 | 173, ClassMap.blend(pixel, 0.5f));
        assertEquals(ClassMap.viridisStep(128), ClassMap.viridis(0.5f));
        assertEquals(ClassMap.viridisStep(127), ClassMap.viridis(127.4f / 255));
        assertEquals(0xff440154, ClassMap.viridis(Float.NaN));
        assertEquals(0xff440154, ClassMap.viridis(-1f));
        assertEquals(0xfffde725, ClassMap.viridis(2f));
        assertEquals("the image's alpha is ignored", ClassMap.blend(pixel, 0.5f), ClassMap.blend(0x006496c8, 0.5f));
    }

    @Test
    public void theOverlayBlendsEachPixelWithTheUpsampledMap() {
        ClassMap row = new ClassMap(0, 1, 2, new double[] {0, 1});
        int[] image = new int[8];
        Arrays.fill(image, 0xff6496c8);
        int[] overlay = row.overlay(image, 4, 2);
        float[] heat = row.upsample(2, 4);
        for (int i = 0; i < image.length; i++) {
            assertEquals("pixel " + i, ClassMap.blend(image[i], heat[i]), overlay[i]);
        }
        assertEquals(0xff000000 | 86 << 16 | 83 << 8 | 148, overlay[0]);
        assertEquals(0xff000000 | 169 << 16 | 186 << 8 | 127, overlay[7]);
        RgbImage rgb = RgbImage.fromArgb(image, 4, 2);
        assertArrayEquals(overlay, row.overlay(rgb));
        try {
            row.overlay(image, 3, 2);
            fail("an image of the wrong size was blended");
        } catch (BrainEdgeException error) {
            assertEquals("pixel buffer of 8 values does not fit a 3x2 image", error.getMessage());
        }
    }
}
