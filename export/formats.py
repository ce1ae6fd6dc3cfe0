"""The export formats: one bundle directory per name, named after it."""

from edge_runtime.errors import BrainEdgeError

TFLITE_FORMATS = ("tflite_float32", "tflite_float16", "tflite_dynamic_range", "tflite_int8_ptq",
                  "tflite_int8_qat")
ONNX_FORMATS = ("onnx_float32", "onnx_int8")
FORMATS = TFLITE_FORMATS + ONNX_FORMATS
DEFAULT_FORMATS = ("tflite_float32", "tflite_int8_ptq")
NEEDS_QAT_MODEL = ("tflite_int8_qat",)
NEEDS_CALIBRATION = ("tflite_int8_ptq", "tflite_int8_qat", "onnx_int8")
FULL_INTEGER = ("tflite_int8_ptq", "tflite_int8_qat", "onnx_int8")
"""Variants whose activations are int8: an accuracy loss there triggers the per-layer debug report."""


def chosen_formats(requested: list[str], has_qat_model: bool) -> list[str]:
    """Validate the requested formats; 'all' expands to every format the run can produce."""
    if requested == ["all"]:
        return [f for f in FORMATS if has_qat_model or f not in NEEDS_QAT_MODEL]
    unknown = [f for f in requested if f not in FORMATS]
    if unknown:
        raise BrainEdgeError(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    if not has_qat_model and any(f in NEEDS_QAT_MODEL for f in requested):
        raise BrainEdgeError("tflite_int8_qat needs a QAT model: train with --qat-epochs 1 or more")
    return list(dict.fromkeys(requested))
