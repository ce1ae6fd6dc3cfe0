"""MobileNetV2 backbone + classification head, as one flat functional model.

Flat (the backbone's layers live directly in the model, not nested as one layer) because
tensorflow-model-optimization's quantize_model refuses nested models.
"""

from __future__ import annotations

from pathlib import Path

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.train.config import BLOCKS, ModelConfig
from brainedge.train.tf_setup import keras

HEAD_PREFIX = "head_"


def build_model(config: ModelConfig) -> keras.Model:
    """MobileNetV2 (ImageNet weights as configured) → GAP → dropout → [dense]* → softmax."""
    inputs = keras.Input((config.input_size, config.input_size, 3), name="image")
    backbone = _backbone(inputs, config)
    x = keras.layers.GlobalAveragePooling2D(name=f"{HEAD_PREFIX}pool")(backbone.output)
    x = keras.layers.Dropout(config.dropout, name=f"{HEAD_PREFIX}dropout")(x)
    for index, units in enumerate(config.hidden_units):
        x = keras.layers.Dense(units, activation="relu", name=f"{HEAD_PREFIX}dense_{index}")(x)
    # float32 output even under mixed precision: softmax in float16 loses small probabilities.
    outputs = keras.layers.Dense(
        config.num_classes, activation="softmax", dtype="float32", name=f"{HEAD_PREFIX}probabilities"
    )(x)
    return keras.Model(inputs, outputs, name="brainedge_mobilenetv2")


def _backbone(inputs: keras.KerasTensor, config: ModelConfig) -> keras.Model:
    weights = None if config.weights == "none" else config.weights
    if weights not in (None, "imagenet"):
        path = Path(weights)
        if not path.is_file():
            raise BrainEdgeError(f"{path}: weights file not found")
        weights = str(path)
    try:
        return keras.applications.MobileNetV2(
            input_tensor=inputs, include_top=False, alpha=config.alpha, weights=weights
        )
    except Exception as error:  # Keras reports download and shape problems as bare Exceptions
        raise BrainEdgeError(_weights_problem(config, error)) from None


def _weights_problem(config: ModelConfig, error: Exception) -> str:
    text = str(error)
    if "URL fetch failure" in text or "Name or service not known" in text:
        return (
            "cannot download the ImageNet MobileNetV2 weights (offline?). Pass a local file with "
            "--weights PATH (e.g. mobilenet_v2_1.0_224_imagenet_no_top.h5, include_top=False, "
            "alpha 1.0) or train from scratch with --weights none"
        )
    if "Shape mismatch" in text or "shape" in text.lower() or "layer" in text.lower():
        return (
            f"{config.weights}: these weights do not fit MobileNetV2(alpha={config.alpha}, "
            f"include_top=False) ({text.splitlines()[0][:160]})"
        )
    return f"{config.weights}: cannot load weights ({text.splitlines()[0][:200]})"


def is_head(layer: keras.layers.Layer) -> bool:
    return layer.name.startswith(HEAD_PREFIX)


def set_trainable_blocks(model: keras.Model, blocks: int | str, train_batch_norm: bool) -> None:
    """Train the head plus the top ``blocks`` backbone blocks ("all" for every layer).

    Batch-norm layers stay frozen (inference mode, moving statistics fixed) unless
    ``train_batch_norm``: on a few thousand images their moving averages (momentum 0.999)
    lag far behind the weights, and validation accuracy collapses.
    """
    first_trainable = 0 if blocks == "all" else _first_layer_of_top_blocks(model, int(blocks))
    for index, layer in enumerate(model.layers):
        trainable = is_head(layer) or index >= first_trainable
        if isinstance(layer, keras.layers.BatchNormalization) and not train_batch_norm:
            trainable = False
        layer.trainable = trainable


def _first_layer_of_top_blocks(model: keras.Model, blocks: int) -> int:
    if blocks <= 0:
        return len(model.layers)
    if blocks > BLOCKS:
        return 0
    first_block = BLOCKS - blocks + 1
    for index, layer in enumerate(model.layers):
        if layer.name.startswith(f"block_{first_block}_"):
            return index
    raise BrainEdgeError(f"model has no block_{first_block}: not a Keras MobileNetV2?")
