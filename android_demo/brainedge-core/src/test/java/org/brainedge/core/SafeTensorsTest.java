package org.brainedge.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.Test;

/** The head file reader: what edge_runtime/tensors.py wrote reads back; anything malformed is refused whole. */
public class SafeTensorsTest {

    /** A safetensors file with the given header text and data bytes. */
    static byte[] file(String header, byte[] data) {
        byte[] text = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate(8 + text.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(text.length).put(text).put(data);
        return out.array();
    }

    static byte[] floats(float... values) {
        ByteBuffer out = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float value : values) {
            out.putFloat(value);
        }
        return out.array();
    }

    private static String refusal(byte[] data) {
        try {
            SafeTensors.read(data, "head.safetensors");
        } catch (BrainEdgeException error) {
            assertTrue(error.getMessage(), error.getMessage().startsWith(
                    "head.safetensors: not a safetensors file of float32 tensors ("));
            return error.getMessage();
        }
        fail("accepted a malformed head file");
        return null;
    }

    @Test
    public void readsWhatThePythonRuntimeWrote() throws Exception {
        Map<String, FloatTensor> tensors = SafeTensors.read(Golden.bytes("heads/hidden_relu.safetensors"), "h");
        assertArrayEquals(new int[] {16, 8}, tensors.get("dense_0.kernel").shape());
        assertArrayEquals(new int[] {8}, tensors.get("dense_0.bias").shape());
        assertArrayEquals(new int[] {4, 16}, tensors.get("ood.class_means").shape());
        assertArrayEquals(new int[] {16, 5}, tensors.get("ood.basis").shape());
        assertEquals("(5,)", tensors.get("ood.variances").shapeText());
        assertEquals(0.5, tensors.get("ood.variances").toDoubles()[0], 0);
        double[][] basis = tensors.get("ood.basis").toMatrix();
        double norm = 0;
        for (double[] row : basis) {
            norm += row[2] * row[2];
        }
        assertEquals("basis columns are unit vectors", 1.0, norm, 1e-6);
    }

    @Test
    public void readsFromABufferWithoutMovingIt() {
        byte[] data = file("{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                + "\"data_offsets\":[0,8]}}", floats(1.5f, -2f));
        ByteBuffer buffer = ByteBuffer.allocate(data.length + 3);
        buffer.put(new byte[3]).put(data).position(3);
        Map<String, FloatTensor> tensors = SafeTensors.read(buffer, "b");
        assertEquals("the __metadata__ entry is not a tensor", 1, tensors.size());
        assertArrayEquals(new double[] {1.5, -2}, tensors.get("a").toDoubles(), 0);
        assertEquals(3, buffer.position());
    }

    @Test
    public void scalarsAndEmptyTensorsAreShapesToo() {
        Map<String, FloatTensor> tensors = SafeTensors.read(file("{\"s\":{\"dtype\":\"F32\",\"shape\":[],"
                + "\"data_offsets\":[0,4]},\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]}}",
                floats(7f)), "s");
        assertEquals(7.0, tensors.get("s").toDoubles()[0], 0);
        assertEquals(0, tensors.get("e").toDoubles().length);
    }

    @Test
    public void refusesMalformedFilesInOneLine() {
        String ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        byte[] data = floats(1f, 2f);
        assertTrue(refusal(new byte[5]).contains("shorter than its 8-byte header length"));
        byte[] huge = file(ok, data);
        huge[7] = (byte) 0x80; // a u64 length beyond any file
        assertTrue(refusal(huge).contains("does not fit the file"));
        byte[] longer = file(ok, data);
        longer[0] = (byte) (longer[0] + 9);
        assertTrue(refusal(longer).contains("does not fit the file"));
        assertTrue(refusal(file("{\"a\":", data)).contains("header is not JSON"));
        assertTrue(refusal(file("[1, 2]", data)).contains("header is not a JSON object"));
        byte[] notUtf8 = file("{\"\u00e9\":{}}", data);
        notUtf8[10] = (byte) 0xff;
        assertTrue(refusal(notUtf8).contains("header is not JSON"));
        assertTrue(refusal(file(ok.replace("F32", "F16"), data)).contains("tensor 'a' is not F32"));
        assertTrue(refusal(file("{\"a\":3}", data)).contains("tensor 'a' is not F32"));
        assertTrue(refusal(file(ok.replace("[2]", "[-2]"), data)).contains("no valid shape"));
        assertTrue(refusal(file(ok.replace("[2]", "[2.0]"), data)).contains("no valid shape"));
        assertTrue(refusal(file(ok.replace("\"shape\":[2],", ""), data)).contains("no valid shape"));
        assertTrue(refusal(file(ok.replace("[0,8]", "[0]"), data)).contains("no valid data_offsets"));
        assertTrue(refusal(file(ok.replace("[0,8]", "[0,12]"), data)).contains("do not fit shape [2]"));
        assertTrue(refusal(file(ok.replace("[0,8]", "[4,8]"), data)).contains("do not fit shape [2]"));
        assertTrue(refusal(file(ok.replace("[0,8]", "[8,0]"), data)).contains("do not fit"));
        assertTrue(refusal(file(ok.replace("[2]", "[65536,65536]"), data)).contains("do not fit"));
        StringBuilder deep = new StringBuilder();
        for (int i = 0; i < 200000; i++) {
            deep.append('[');
        }
        assertTrue(refusal(file(deep.toString(), data)).contains("header is"));
    }
}
