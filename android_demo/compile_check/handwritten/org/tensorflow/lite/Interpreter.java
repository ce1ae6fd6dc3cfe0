// Compile-check stub (never packaged): the members of org.tensorflow.lite.Interpreter that the app
// may call, with the signatures of com.google.ai.edge.litert:litert:1.4.1 (the TensorFlow Lite Java
// API, tflite/java/src/main/java/org/tensorflow/lite/{Interpreter,InterpreterApi}.java in
// google-ai-edge/LiteRT). Interpreter.Options overrides InterpreterApi.Options' setters to return itself.
package org.tensorflow.lite;

import java.nio.ByteBuffer;

public final class Interpreter implements AutoCloseable {
    public static class Options {
        public Options() { }
        public Options setNumThreads(int numThreads) { throw new UnsupportedOperationException(); }
        public Options setUseXNNPACK(boolean useXNNPACK) { throw new UnsupportedOperationException(); }
        public Options setUseNNAPI(boolean useNNAPI) { throw new UnsupportedOperationException(); }
        public Options setCancellable(boolean allow) { throw new UnsupportedOperationException(); }
        public int getNumThreads() { throw new UnsupportedOperationException(); }
    }

    public Interpreter(java.io.File modelFile) { }
    public Interpreter(java.io.File modelFile, Options options) { }
    public Interpreter(ByteBuffer byteBuffer) { }
    public Interpreter(ByteBuffer byteBuffer, Options options) { }

    public void run(Object input, Object output) { }
    public void runForMultipleInputsOutputs(Object[] inputs, java.util.Map<Integer, Object> outputs) { }
    public void allocateTensors() { }
    public void resizeInput(int idx, int[] dims) { }
    public int getInputTensorCount() { throw new UnsupportedOperationException(); }
    public int getInputIndex(String opName) { throw new UnsupportedOperationException(); }
    public Tensor getInputTensor(int inputIndex) { throw new UnsupportedOperationException(); }
    public int getOutputTensorCount() { throw new UnsupportedOperationException(); }
    public int getOutputIndex(String opName) { throw new UnsupportedOperationException(); }
    public Tensor getOutputTensor(int outputIndex) { throw new UnsupportedOperationException(); }
    public Long getLastNativeInferenceDurationNanoseconds() { throw new UnsupportedOperationException(); }
    public void setCancelled(boolean cancelled) { }
    @Override public void close() { }
}
