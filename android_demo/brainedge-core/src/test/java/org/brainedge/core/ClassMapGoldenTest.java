package org.brainedge.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.File;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import javax.imageio.ImageIO;
import org.junit.Test;

/**
 * The Java core draws the Python runtime's class-activation maps (issue 18): the map of a class from a
 * recorded feature map (float32 and uint8, through a head of one dense layer) within 1e-5, its
 * upsampling to 13 x 9 within 1e-5, the overlay over a golden image pixel for pixel below the caption
 * Python draws, the viridis table and alpha, and Python's refusals.
 */
public class ClassMapGoldenTest {

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> explain(String kind) throws Exception {
        Map<String, Object> section = Golden.section("explain");
        assertTrue("cases.json has no explain section; rerun make_golden.py", section != null);
        return (List<Map<String, Object>>) section.get(kind);
    }

    private static Head head(Map<String, Object> c, BundleMetadata metadata) throws Exception {
        byte[] file = Golden.bytes((String) c.get("head"));
        Sha256.checkHead(Sha256.hex(new ByteArrayInputStream(file)), metadata, (String) c.get("head"));
        return Head.load(metadata, file, (String) c.get("head"));
    }

    /** The case's recorded model output, dequantized as the app reads it from LiteRT's buffer. */
    private static float[] featureMap(Map<String, Object> c, BundleMetadata metadata) throws Exception {
        ByteBuffer raw = ByteBuffer.wrap(Golden.bytes((String) c.get("raw"))).order(ByteOrder.LITTLE_ENDIAN);
        return Postprocessor.featureMap(raw, metadata.output, metadata.head.featureMapSize());
    }

    private static ClassMap classMap(Map<String, Object> c) throws Exception {
        BundleMetadata metadata = Golden.metadata((String) c.get("metadata"));
        return head(c, metadata).classMap(featureMap(c, metadata), number(c, "class"));
    }

    private static int number(Map<String, Object> c, String key) {
        return ((Number) c.get(key)).intValue();
    }

    @SuppressWarnings("unchecked")
    private static int[] shape(Map<String, Object> c, String key) {
        List<Number> dims = (List<Number>) c.get(key);
        int[] shape = new int[dims.size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = dims.get(i).intValue();
        }
        return shape;
    }

    @Test
    public void mapsAndUpsampledMapsAreThePythonRuntimes() throws Exception {
        List<Map<String, Object>> cases = explain("maps");
        assertTrue("expected class-map goldens", cases.size() >= 20);
        for (Map<String, Object> c : cases) {
            String name = c.get("name") + " class " + c.get("class");
            double tolerance = ((Number) c.get("tolerance")).doubleValue();
            ClassMap map = classMap(c);
            int[] mapShape = shape(c, "map_shape");
            assertEquals(name + " height", mapShape[0], map.height);
            assertEquals(name + " width", mapShape[1], map.width);
            double[] expected = HeadGoldenTest.doubles(Golden.bytes((String) c.get("map")));
            double[] actual = map.values();
            assertEquals(name + " size", expected.length, actual.length);
            for (int i = 0; i < expected.length; i++) {
                assertEquals(name + " value " + i, expected[i], actual[i], tolerance);
            }
            int[] size = shape(c, "upsampled_shape");
            float[] upsampled = map.upsample(size[0], size[1]);
            float[] expectedUp = PostprocessorGoldenTest.floats(Golden.bytes((String) c.get("upsampled")));
            assertEquals(name + " upsampled size", expectedUp.length, upsampled.length);
            for (int i = 0; i < expectedUp.length; i++) {
                assertEquals(name + " upsampled " + i, expectedUp[i], upsampled[i], tolerance);
            }
        }
    }

    /** The app draws the map of its ranking's best class; Python's classify(explain=True) of its argmax. */
    @Test
    public void theTopClassIsTheOneTheJavaRankingPutsFirst() throws Exception {
        int tops = 0;
        for (Map<String, Object> c : explain("maps")) {
            if (!Boolean.TRUE.equals(c.get("top"))) {
                continue;
            }
            BundleMetadata metadata = Golden.metadata((String) c.get("metadata"));
            Outputs outputs = head(c, metadata).run(featureMap(c, metadata));
            Prediction prediction = Postprocessor.rank(outputs, metadata.classNames, 1, metadata.confidenceThreshold);
            assertEquals(c.get("name").toString(), number(c, "class"),
                    metadata.classNames.indexOf(prediction.best().label));
            tops++;
        }
        assertTrue("expected top-class maps", tops >= 10);
    }

    @Test
    public void theGoldensCoverEmptyPartlyEmptyAndFullMapsOfEveryDtype() throws Exception {
        int empty = 0;
        int partly = 0;
        Set<String> dtypes = new TreeSet<String>();
        for (Map<String, Object> c : explain("maps")) {
            double[] values = HeadGoldenTest.doubles(Golden.bytes((String) c.get("map")));
            int zeros = 0;
            for (double value : values) {
                zeros += value == 0 ? 1 : 0;
            }
            empty += zeros == values.length ? 1 : 0;
            partly += zeros > 0 && zeros < values.length ? 1 : 0;
            dtypes.add((String) c.get("raw_dtype"));
        }
        assertTrue("goldens must hold an all-zero map", empty > 0);
        assertTrue("goldens must hold a map that is zero in places only", partly > 0);
        assertEquals("[float32, uint8]", dtypes.toString());
    }

    @Test
    public void theOverlayIsPythonsPixelForPixelBelowItsCaption() throws Exception {
        List<Map<String, Object>> cases = explain("overlays");
        assertFalse("expected an overlay golden", cases.isEmpty());
        for (Map<String, Object> c : cases) {
            RgbImage image = Golden.image((String) c.get("image"));
            int[] overlay = classMap(c).overlay(image);
            BufferedImage expected = ImageIO.read(new File(Golden.dir(), (String) c.get("overlay")));
            assertEquals(image.width, expected.getWidth());
            assertEquals(image.height, expected.getHeight());
            Raster raster = expected.getRaster();
            int firstRow = number(c, "first_row");
            assertTrue("the caption must leave most rows to compare", firstRow < image.height / 2);
            int[] rgb = new int[3];
            for (int y = firstRow; y < image.height; y++) {
                for (int x = 0; x < image.width; x++) {
                    raster.getPixel(x, y, rgb);
                    int want = 0xff000000 | rgb[0] << 16 | rgb[1] << 8 | rgb[2];
                    int got = overlay[y * image.width + x];
                    if (want != got) {
                        fail(c.get("overlay") + " pixel (" + y + ", " + x + "): expected "
                                + Integer.toHexString(want) + ", got " + Integer.toHexString(got));
                    }
                }
            }
        }
    }

    @Test
    public void theViridisTableAndAlphaArePythons() throws Exception {
        Map<String, Object> section = Golden.section("explain");
        String hex = (String) section.get("viridis");
        assertEquals(256 * 6, hex.length());
        for (int i = 0; i < 256; i++) {
            int rgb = Integer.parseInt(hex.substring(6 * i, 6 * i + 6), 16);
            assertEquals("viridis step " + i, 0xff000000 | rgb, ClassMap.viridisStep(i));
        }
        assertEquals(((Number) section.get("alpha")).floatValue(), ClassMap.OVERLAY_ALPHA, 0f);
    }

    @Test
    @SuppressWarnings("unchecked")
    public void aHiddenLayerHeadAndAClassOutsideTheHeadAreRefusedWithPythonsWords() throws Exception {
        List<Map<String, Object>> cases = (List<Map<String, Object>>) Golden.section("refusals").get("class_maps");
        assertTrue("expected class-map refusal goldens", cases != null && cases.size() >= 2);
        boolean hidden = false;
        for (Map<String, Object> c : cases) {
            BundleMetadata metadata = Golden.metadata((String) c.get("metadata"));
            Head head = head(c, metadata);
            hidden |= !head.drawsClassMaps();
            try {
                head.classMap(new float[metadata.head.featureMapSize()], number(c, "class"));
                fail(c + ": drew a map");
            } catch (BrainEdgeException error) {
                assertEquals(c.get("message"), error.getMessage());
            }
        }
        assertTrue("a head with hidden layers must be among the refusals", hidden);
    }
}
