package org.brainedge.core;

import java.nio.ByteBuffer;

/** A 1 x height x width x channels model input: float32 values, or uint8/int8 bytes. */
public final class InputTensor {
    public final String dtype;
    public final int[] shape;
    private final float[] floats;
    private final byte[] bytes;

    private InputTensor(String dtype, int[] shape, float[] floats, byte[] bytes) {
        this.dtype = dtype;
        this.shape = shape.clone();
        this.floats = floats;
        this.bytes = bytes;
    }

    static InputTensor ofFloats(int[] shape, float[] values) {
        return new InputTensor("float32", shape, values, null);
    }

    static InputTensor ofBytes(String dtype, int[] shape, byte[] values) {
        return new InputTensor(dtype, shape, null, values);
    }

    public boolean isFloat() {
        return floats != null;
    }

    /** The float32 values (a copy); only for a float32 tensor. */
    public float[] floats() {
        if (floats == null) {
            throw new IllegalStateException(dtype + " tensor has no float values");
        }
        return floats.clone();
    }

    /** The raw uint8/int8 bytes (a copy); only for an integer tensor. */
    public byte[] bytes() {
        if (bytes == null) {
            throw new IllegalStateException("float32 tensor has no byte values");
        }
        return bytes.clone();
    }

    /** Size of the tensor in bytes, as an interpreter's input buffer needs it. */
    public int byteSize() {
        return floats != null ? floats.length * 4 : bytes.length;
    }

    /** Write the tensor at the buffer's position, floats in the buffer's byte order. */
    public void writeTo(ByteBuffer buffer) {
        if (floats != null) {
            buffer.asFloatBuffer().put(floats);
            buffer.position(buffer.position() + floats.length * 4);
        } else {
            buffer.put(bytes);
        }
    }
}
