// Compile-check stub (never packaged): org.tensorflow.lite.DataType as in LiteRT 1.4.1.
package org.tensorflow.lite;

public enum DataType {
    FLOAT32, INT32, UINT8, INT64, STRING, BOOL, INT16, INT8;

    public int byteSize() { throw new UnsupportedOperationException(); }
}
