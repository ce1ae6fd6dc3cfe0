package org.brainedge.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/** Java preprocessing gives the Python runtime's input tensors, byte for byte. */
public class PreprocessorGoldenTest {

    @Test
    public void everyReferenceImageAndMetadataGivesPythonsExactTensor() throws Exception {
        List<Map<String, Object>> cases = Golden.cases("preprocess");
        assertTrue("expected at least 20 preprocessing goldens, got " + cases.size(), cases.size() >= 20);
        List<String> failures = new ArrayList<String>();
        for (Map<String, Object> c : cases) {
            String name = c.get("image") + " with " + c.get("metadata");
            BundleMetadata metadata = Golden.metadata((String) c.get("metadata"));
            InputTensor tensor = Preprocessor.toInputTensor(Golden.image((String) c.get("image")), metadata.input);
            assertEquals(name, c.get("dtype"), tensor.dtype);
            assertEquals(name, String.valueOf(c.get("shape")), java.util.Arrays.toString(tensor.shape));
            String problem = firstDifference(Golden.bytes((String) c.get("tensor")), javaBytes(tensor));
            if (problem != null) {
                failures.add(name + ": " + problem);
            }
        }
        assertTrue(failures.size() + " tensors differ from Python's:\n" + String.join("\n", failures),
                failures.isEmpty());
    }

    @Test
    public void goldensCoverEveryInputDtypeAndTheRequiredImages() throws Exception {
        List<String> dtypes = new ArrayList<String>();
        List<String> images = new ArrayList<String>();
        for (Map<String, Object> c : Golden.cases("preprocess")) {
            dtypes.add((String) c.get("dtype"));
            images.add((String) c.get("image"));
        }
        for (String dtype : new String[] {"uint8", "int8", "float32"}) {
            assertTrue("no golden for " + dtype, dtypes.contains(dtype));
        }
        for (String image : new String[] {"gray", "nonsquare", "large", "small", "rgba"}) {
            boolean found = false;
            for (String path : images) {
                found |= path.contains(image);
            }
            assertTrue("no " + image + " reference image", found);
        }
    }

    @Test
    public void floatTensorsAreWrittenLittleEndianLikeNumpy() throws Exception {
        BundleMetadata metadata = Golden.metadata("metadata/float32_logits.json");
        InputTensor tensor = Preprocessor.toInputTensor(Golden.image("images/rgb_small_17x23.png"), metadata.input);
        byte[] expected = Golden.bytes("tensors/float32_logits/rgb_small_17x23.png".replace(".png", ".bin"));
        float[] fromPython = new float[expected.length / 4];
        ByteBuffer.wrap(expected).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(fromPython);
        assertArrayEquals(fromPython, tensor.floats(), 0f);
    }

    static byte[] javaBytes(InputTensor tensor) {
        ByteBuffer buffer = ByteBuffer.allocate(tensor.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
        tensor.writeTo(buffer);
        return buffer.array();
    }

    static String firstDifference(byte[] expected, byte[] actual) {
        if (expected.length != actual.length) {
            return expected.length + " bytes expected, " + actual.length + " produced";
        }
        int count = 0;
        int first = -1;
        for (int i = 0; i < expected.length; i++) {
            if (expected[i] != actual[i]) {
                count++;
                first = first < 0 ? i : first;
            }
        }
        if (count == 0) {
            return null;
        }
        return count + " bytes differ, first at byte " + first + " (python " + (expected[first] & 0xff)
                + ", java " + (actual[first] & 0xff) + ")";
    }
}
