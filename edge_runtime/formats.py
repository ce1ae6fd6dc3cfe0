"""The export formats: one table read by export, the runtime, the benchmarks and the tests.

A format's name is also the name of its bundle directory and the ``variant`` in its metadata.
Nothing here imports TensorFlow, so a Raspberry Pi's benchmark can read the table too.
"""

from __future__ import annotations

from dataclasses import dataclass

from brainedge.edge_runtime.errors import BrainEdgeError


@dataclass(frozen=True)
class ExportFormat:
    name: str
    model_format: str
    """"tflite" or "onnx": which runtime family loads the model file."""
    suffix: str
    needs_calibration: bool
    """Full-integer formats calibrate their activation ranges on training images."""
    needs_qat: bool
    """Made from the quantization-aware-trained model instead of the float one."""
    float_reference: bool
    """The float32 model of its family: what other formats' agreement and ratios are measured against."""

    @property
    def full_integer(self) -> bool:
        return self.needs_calibration


FORMATS = (
    ExportFormat("tflite_float32", "tflite", ".tflite", needs_calibration=False, needs_qat=False, float_reference=True),
    ExportFormat(
        "tflite_float16", "tflite", ".tflite", needs_calibration=False, needs_qat=False, float_reference=False
    ),
    ExportFormat(
        "tflite_dynamic_range", "tflite", ".tflite", needs_calibration=False, needs_qat=False, float_reference=False
    ),
    ExportFormat(
        "tflite_int8_ptq", "tflite", ".tflite", needs_calibration=True, needs_qat=False, float_reference=False
    ),
    ExportFormat("tflite_int8_qat", "tflite", ".tflite", needs_calibration=True, needs_qat=True, float_reference=False),
    ExportFormat("onnx_float32", "onnx", ".onnx", needs_calibration=False, needs_qat=False, float_reference=True),
    ExportFormat("onnx_int8", "onnx", ".onnx", needs_calibration=True, needs_qat=False, float_reference=False),
)
FORMAT_NAMES = tuple(f.name for f in FORMATS)
DEFAULT_FORMATS = ("tflite_float32", "tflite_int8_ptq")


def export_format(name: str) -> ExportFormat:
    """The format of that name; a user's typo is named with the choices."""
    for candidate in FORMATS:
        if candidate.name == name:
            return candidate
    raise BrainEdgeError(f"unknown format {name!r}; choose from {', '.join(FORMAT_NAMES)}")


def known_format(name: str | None) -> ExportFormat | None:
    """The format of that name, or None for a variant this table does not know (a third-party model)."""
    return next((f for f in FORMATS if f.name == name), None)
