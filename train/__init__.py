"""BrainEdge training stage: data audit and splits, MobileNetV2 fine-tuning, QAT, the demo."""
