"""Split a trained Keras model at its last feature map: the network goes into the model file,
the dense head into the bundle's head file (see ``edge_runtime.head``)."""

from __future__ import annotations

import numpy as np

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.metadata import DenseLayer, HeadSpec
from brainedge.train.model import HEAD_PREFIX
from brainedge.train.tf_setup import keras

HEAD_FILE = "head.safetensors"
POOL_LAYER = f"{HEAD_PREFIX}pool"
LOGITS_LAYER = f"{HEAD_PREFIX}probabilities"


def feature_map_model(model: keras.Model) -> keras.Model:
    """The model up to the input of its global average pooling: the last feature map (N, H, W, C).

    Works on the float model and on its quantization-aware twin (whose layers are wrapped), so the
    QAT fake-quantization of the feature map stays in the int8 model.
    """
    return keras.Model(model.input, _graph_layer(model, POOL_LAYER).input, name=f"{model.name}_features")


def head_of(model: keras.Model) -> tuple[HeadSpec, dict[str, np.ndarray]]:
    """The head's layers as metadata plus their weights as named arrays (``HeadSpec.sha256`` is set on writing).

    The last layer's softmax is left to the runtime: it applies the bundle's temperature first.
    """
    hidden = sorted(
        (layer for layer in model.layers if _unwrapped(layer).name.startswith(f"{HEAD_PREFIX}dense_")),
        key=lambda layer: int(_unwrapped(layer).name.rsplit("_", 1)[1]),
    )
    layers, tensors = [], {}
    for layer in [*hidden, _graph_layer(model, LOGITS_LAYER)]:
        name = _unwrapped(layer).name
        activation = "none" if name == LOGITS_LAYER else _activation_name(_unwrapped(layer))
        tensors[f"{name}.kernel"], tensors[f"{name}.bias"] = _weight(layer, "kernel"), _weight(layer, "bias")
        layers.append(DenseLayer(kernel=f"{name}.kernel", bias=f"{name}.bias", activation=activation))
    feature_map = tuple(int(d) for d in _graph_layer(model, POOL_LAYER).input.shape[1:])
    return HeadSpec(file=HEAD_FILE, sha256="", feature_map=feature_map, layers=tuple(layers)), tensors


def _activation_name(layer: keras.layers.Layer) -> str:
    activation = getattr(layer.activation, "activation", layer.activation)  # tfmot wraps it for QAT
    name = getattr(activation, "__name__", str(activation))
    if name not in ("relu", "linear"):
        raise BrainEdgeError(f"head layer {layer.name} uses {name}; a bundle head supports relu and linear")
    return "relu" if name == "relu" else "none"


def _weight(layer: keras.layers.Layer, name: str) -> np.ndarray:
    """A trained weight by name; under QAT the wrapped layer's ``kernel`` is the fake-quantized tensor,
    so the variable is looked up among the wrapper's weights."""
    for variable in layer.weights:
        if variable.name.rsplit("/", 1)[-1].split(":")[0] == name:
            return np.asarray(variable.numpy(), np.float32)
    raise BrainEdgeError(f"head layer {layer.name} has no {name}")


def _graph_layer(model: keras.Model, name: str) -> keras.layers.Layer:
    """The layer of the model's graph that is (or, under QAT, wraps) the layer of this training name."""
    for layer in model.layers:
        if _unwrapped(layer).name == name:
            return layer
    raise BrainEdgeError(f"model has no {name} layer: not a BrainEdge MobileNetV2 classifier?")


def _unwrapped(layer: keras.layers.Layer) -> keras.layers.Layer:
    """tfmot's QuantizeWrapper holds the trained layer (and its weights) as ``.layer``."""
    inner = getattr(layer, "layer", None)
    return inner if isinstance(inner, keras.layers.Layer) else layer
