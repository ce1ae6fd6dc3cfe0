"""Quantization-aware training with tensorflow-model-optimization (Keras 2 only)."""

from __future__ import annotations

from pathlib import Path

import tensorflow_model_optimization as tfmot

from edge_runtime.errors import BrainEdgeError
from train.tf_setup import keras


def quantize_for_training(model: keras.Model) -> keras.Model:
    """Wrap a trained float model with fake-quantization, as int8 TFLite will compute it."""
    try:
        return tfmot.quantization.keras.quantize_model(model)
    except (ValueError, RuntimeError) as error:
        raise BrainEdgeError(f"cannot prepare the model for quantization-aware training: {error}") from None


def load_qat_model(path: Path) -> keras.Model:
    """A saved QAT model needs tfmot's custom objects in scope to load."""
    with tfmot.quantization.keras.quantize_scope():
        return keras.models.load_model(path)
