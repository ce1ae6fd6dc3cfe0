"""BrainEdge export stage: TFLite and ONNX bundles, each verified against the Keras model."""
