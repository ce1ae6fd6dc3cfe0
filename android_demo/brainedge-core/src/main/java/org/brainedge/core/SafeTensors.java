package org.brainedge.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A bundle's head file: named float32 arrays in the safetensors layout, read as
 * {@code edge_runtime/tensors.py} reads it. An 8-byte little-endian header length, a JSON header
 * {@code {name: {"dtype": "F32", "shape": [...], "data_offsets": [start, end]}}} with offsets into
 * the data after it, then raw little-endian float32 data.
 *
 * <p>Anything else is refused whole, in one line: a head computed from half-read weights would
 * still give confident-looking probabilities.
 */
public final class SafeTensors {
    /** A header longer than this is not one the exporter wrote (its headers are a few hundred bytes). */
    static final long HEADER_LIMIT = 1 << 20;
    private static final String METADATA_ENTRY = "__metadata__";

    private SafeTensors() {
    }

    public static Map<String, FloatTensor> read(byte[] data, String source) {
        return read(ByteBuffer.wrap(data), source);
    }

    /** The tensors of the bytes from the buffer's position to its limit (the buffer is not moved). */
    public static Map<String, FloatTensor> read(ByteBuffer data, String source) {
        try {
            return parse(data.slice().order(ByteOrder.LITTLE_ENDIAN));
        } catch (IllegalArgumentException problem) {
            throw new BrainEdgeException(source + ": not a safetensors file of float32 tensors ("
                    + problem.getMessage() + ")");
        }
    }

    private static Map<String, FloatTensor> parse(ByteBuffer data) {
        if (data.remaining() < 8) {
            throw new IllegalArgumentException("shorter than its 8-byte header length");
        }
        long length = data.getLong(0);
        if (length < 0 || length > Math.min(HEADER_LIMIT, data.remaining() - 8L)) {
            throw new IllegalArgumentException("header length " + Long.toUnsignedString(length)
                    + " does not fit the file");
        }
        byte[] headerBytes = new byte[(int) length];
        data.position(8);
        data.get(headerBytes);
        Object header;
        try {
            String text = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(headerBytes)).toString();
            header = Json.parse(text);
        } catch (CharacterCodingException | IllegalArgumentException error) {
            throw new IllegalArgumentException("header is not JSON: " + error.getMessage());
        } catch (StackOverflowError error) { // the reader recurses; 1 MiB of "[" would exhaust a thread's stack
            throw new IllegalArgumentException("header is nested too deeply to be a tensor index");
        }
        if (!(header instanceof Map)) {
            throw new IllegalArgumentException("header is not a JSON object");
        }
        ByteBuffer body = data.slice().order(ByteOrder.LITTLE_ENDIAN);
        Map<String, FloatTensor> tensors = new LinkedHashMap<String, FloatTensor>();
        for (Map.Entry<?, ?> entry : ((Map<?, ?>) header).entrySet()) {
            String name = (String) entry.getKey();
            if (!METADATA_ENTRY.equals(name)) {
                tensors.put(name, tensor(name, entry.getValue(), body));
            }
        }
        return tensors;
    }

    private static FloatTensor tensor(String name, Object entry, ByteBuffer body) {
        if (!(entry instanceof Map) || !"F32".equals(((Map<?, ?>) entry).get("dtype"))) {
            throw new IllegalArgumentException("tensor '" + name + "' is not F32");
        }
        Map<?, ?> fields = (Map<?, ?>) entry;
        long[] shape = longs(fields.get("shape"), -1);
        if (shape == null) {
            throw new IllegalArgumentException("tensor '" + name + "' has no valid shape");
        }
        long[] offsets = longs(fields.get("data_offsets"), 2);
        if (offsets == null) {
            throw new IllegalArgumentException("tensor '" + name + "' has no valid data_offsets");
        }
        long start = offsets[0];
        long end = offsets[1];
        long count = count(shape);
        if (!(0 <= start && start <= end && end <= body.remaining()) || count < 0 || end - start != 4 * count) {
            throw new IllegalArgumentException("tensor '" + name + "': data_offsets [" + start + ", " + end
                    + "] do not fit shape " + listText(shape) + " and the file");
        }
        float[] values = new float[(int) count];
        ByteBuffer data = body.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        data.position((int) start);
        data.asFloatBuffer().get(values);
        int[] dims = new int[shape.length];
        for (int i = 0; i < shape.length; i++) {
            dims[i] = (int) shape[i];
        }
        return new FloatTensor(dims, values);
    }

    /** Non-negative integers of a JSON list (of the given size, unless -1), or null if it is not one. */
    private static long[] longs(Object value, int size) {
        if (!(value instanceof List) || (size >= 0 && ((List<?>) value).size() != size)) {
            return null;
        }
        List<?> list = (List<?>) value;
        long[] result = new long[list.size()];
        for (int i = 0; i < result.length; i++) {
            if (!(list.get(i) instanceof Long)) {
                return null;
            }
            result[i] = (Long) list.get(i);
            if (size < 0 && result[i] < 0) {
                return null;
            }
        }
        return result;
    }

    /** Elements of a shape, or -1 when there are more than an int (or a file) can hold. */
    private static long count(long[] shape) {
        long count = 1;
        for (long dim : shape) {
            if (dim > Integer.MAX_VALUE || (dim != 0 && count > Integer.MAX_VALUE / dim)) {
                return -1;
            }
            count *= dim;
        }
        return count > Integer.MAX_VALUE / 4 ? -1 : count;
    }

    private static String listText(long[] values) {
        StringBuilder text = new StringBuilder("[");
        for (int i = 0; i < values.length; i++) {
            text.append(i == 0 ? "" : ", ").append(values[i]);
        }
        return text.append("]").toString();
    }
}
