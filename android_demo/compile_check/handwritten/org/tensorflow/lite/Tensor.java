// Compile-check stub (never packaged): org.tensorflow.lite.Tensor as in LiteRT 1.4.1's TensorFlow
// Lite Java API (an interface since TF Lite 2.7; quantization parameters in a nested class).
package org.tensorflow.lite;

import java.nio.ByteBuffer;

public interface Tensor {
    DataType dataType();
    int numDimensions();
    int numBytes();
    int numElements();
    int[] shape();
    int[] shapeSignature();
    int index();
    String name();
    QuantizationParams quantizationParams();
    ByteBuffer asReadOnlyBuffer();

    class QuantizationParams {
        public QuantizationParams(float scale, int zeroPoint) { }
        public float getScale() { throw new UnsupportedOperationException(); }
        public int getZeroPoint() { throw new UnsupportedOperationException(); }
    }
}
