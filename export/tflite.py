"""TFLite conversion of every variant: float32, float16, dynamic-range, full-integer int8."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from tensorflow.lite.tools import flatbuffer_utils

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.variants import VARIANTS
from brainedge.train.tf_setup import keras, tf

INTEGER_IO = {"uint8": tf.uint8, "int8": tf.int8, "float32": tf.float32}
TFLITE_VARIANTS = tuple(f.name.removeprefix("tflite_") for f in VARIANTS if f.model_format == "tflite")
"""The variant table's TFLite rows without their prefix: what the converter is asked for."""


def converter_for(
    model: keras.Model, variant: str, representative: np.ndarray | None = None, io_dtype: str = "uint8"
) -> tf.lite.TFLiteConverter:
    """A TFLite converter set up for one variant.

    ``representative`` (preprocessed float inputs) calibrates full-integer variants;
    ``io_dtype`` picks their input/output type (uint8, int8, or float32 to keep float I/O).
    """
    if variant not in TFLITE_VARIANTS:
        raise BrainEdgeError(f"unknown TFLite variant {variant!r}")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic_range":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant in ("int8_ptq", "int8_qat"):
        if representative is None:
            raise BrainEdgeError(f"{variant} needs representative images")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: representative_batches(representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = INTEGER_IO[io_dtype]
        converter.inference_output_type = INTEGER_IO[io_dtype]
    return converter


def convert(
    model: keras.Model, variant: str, representative: np.ndarray | None = None, io_dtype: str = "uint8"
) -> bytes:
    """Keras model → .tflite bytes for one variant (see ``converter_for``)."""
    converter = converter_for(model, variant, representative, io_dtype)
    try:
        converted = converter.convert()
    except Exception as error:  # the converter raises ConverterError and bare exceptions alike
        raise BrainEdgeError(
            f"TFLite {variant} conversion failed (an op that cannot be "
            f"{'quantized' if 'int8' in variant else 'converted'}?): "
            f"{_first_line(error)}"
        ) from None
    return without_intermediate_tensor_names(converted)


def without_intermediate_tensor_names(model: bytes) -> bytes:
    """The model with its inner tensors unnamed; inputs, outputs and signatures keep their names.

    The converter names each tensor after every op fused into it
    ("model/block_13_depthwise_relu/Relu6;model/block_13_depthwise_BN/FusedBatchNormV3;…"):
    about 19 kB of an int8 MobileNetV2 that no interpreter reads, as TFLite's own
    ``flatbuffer_utils.strip_strings`` says, which also drops the signatures (kept here).
    Per-layer names stay available where they are used: the quantization debug report.
    """
    tree = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    for subgraph in tree.subgraphs:
        named = set(subgraph.inputs) | set(subgraph.outputs)
        for index, tensor in enumerate(subgraph.tensors):
            if index not in named:
                tensor.name = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(tree))


def representative_batches(inputs: np.ndarray) -> Iterator[list[np.ndarray]]:
    """The converter's calibration feed: one image per batch, as the device will see it."""
    for row in inputs:
        yield [row[None].astype(np.float32)]


def _first_line(error: Exception) -> str:
    """The converter's message, without the MLIR location noise of its first lines."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    for line in lines:
        if "error:" in line:
            return line.split("error:", 1)[1].strip()
    return lines[0] if lines else type(error).__name__
