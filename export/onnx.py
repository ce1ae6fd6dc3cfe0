"""ONNX export: float32 through tf2onnx, int8 through ONNX Runtime static quantization.

The graph keeps the Keras model's NHWC float32 input (named ``image``, batch dynamic), so an
ONNX bundle takes exactly the tensor a TFLite float bundle takes. The int8 model is QDQ,
per-channel int8 weights and int8 activations, calibrated on the same representative
inputs as the TFLite int8 variants; its input and output stay float32.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.train.tf_setup import keras, tf

OPSET = 17
INPUT_NAME = "image"


def to_onnx(model: keras.Model) -> bytes:
    """Keras model → float32 ONNX bytes (NHWC input kept: no transpose for the caller)."""
    import tf2onnx

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    _, height, width, channels = model.input_shape
    signature = [tf.TensorSpec((None, height, width, channels), tf.float32, name=INPUT_NAME)]
    try:
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=OPSET)
    except Exception as error:  # tf2onnx raises bare exceptions for unsupported ops
        raise BrainEdgeError(
            f"ONNX float32 conversion failed (an op tf2onnx cannot convert?): {_first_line(error)}"
        ) from None
    return proto.SerializeToString()


def quantize_onnx(float_model: bytes, representative: np.ndarray) -> bytes:
    """Float ONNX bytes → int8 QDQ ONNX bytes, calibrated on ``representative`` (preprocessed inputs)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    logging.getLogger("root").setLevel(logging.ERROR)  # ORT's quantizer logs through the root logger
    with tempfile.TemporaryDirectory(prefix="brainedge-onnx-") as work:
        source, prepared, quantized = (Path(work) / name for name in ("float.onnx", "pre.onnx", "int8.onnx"))
        source.write_bytes(float_model)
        try:
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=False)
            quantize_static(
                str(prepared),
                str(quantized),
                RepresentativeReader(representative),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
            )
        except Exception as error:  # ORT reports unsupported ops as bare exceptions
            raise BrainEdgeError(
                f"ONNX int8 quantization failed (an op that cannot be quantized?): {_first_line(error)}"
            ) from None
        return quantized.read_bytes()


class RepresentativeReader:
    """ONNX Runtime's calibration feed: one preprocessed image per call, then None."""

    def __init__(self, inputs: np.ndarray) -> None:
        self._rows = iter(inputs)

    def get_next(self) -> dict[str, np.ndarray] | None:
        row = next(self._rows, None)
        return None if row is None else {INPUT_NAME: row[None].astype(np.float32)}


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
