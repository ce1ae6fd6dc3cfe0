"""The export variants (recipes): one table read by export, the runtime, the benchmarks, the docs and the tests.

A variant's name is also the name of its bundle directory and the ``variant`` in its metadata; its
``model_format`` is the file format ("tflite" or "onnx").
Nothing here imports TensorFlow, so a Raspberry Pi's benchmark can read the table too.
"""

from __future__ import annotations

from dataclasses import dataclass

from brainedge.edge_runtime.errors import BrainEdgeError


@dataclass(frozen=True)
class Variant:
    name: str
    model_format: str
    """"tflite" or "onnx": which runtime family loads the model file."""
    suffix: str
    needs_calibration: bool
    """Full-integer variants calibrate their activation ranges on training images."""
    needs_qat: bool
    """Made from the quantization-aware-trained model instead of the float one."""
    float_reference: bool
    """The float32 model of its family: what other variants' agreement and ratios are measured against."""

    @property
    def full_integer(self) -> bool:
        return self.needs_calibration


VARIANTS = (
    Variant("tflite_float32", "tflite", ".tflite", needs_calibration=False, needs_qat=False, float_reference=True),
    Variant("tflite_float16", "tflite", ".tflite", needs_calibration=False, needs_qat=False, float_reference=False),
    Variant(
        "tflite_dynamic_range", "tflite", ".tflite", needs_calibration=False, needs_qat=False, float_reference=False
    ),
    Variant("tflite_int8_ptq", "tflite", ".tflite", needs_calibration=True, needs_qat=False, float_reference=False),
    Variant("tflite_int8_qat", "tflite", ".tflite", needs_calibration=True, needs_qat=True, float_reference=False),
    Variant("onnx_float32", "onnx", ".onnx", needs_calibration=False, needs_qat=False, float_reference=True),
    Variant("onnx_int8", "onnx", ".onnx", needs_calibration=True, needs_qat=False, float_reference=False),
)
VARIANT_NAMES = tuple(f.name for f in VARIANTS)
DEFAULT_VARIANTS = ("tflite_float32", "tflite_int8_ptq")


def variant_named(name: str) -> Variant:
    """The variant of that name; a user's typo is named with the choices."""
    for candidate in VARIANTS:
        if candidate.name == name:
            return candidate
    raise BrainEdgeError(f"unknown variant {name!r}; choose from {', '.join(VARIANT_NAMES)}")


def known_variant(name: str | None) -> Variant | None:
    """The variant of that name, or None for one this table does not know (a third-party model)."""
    return next((f for f in VARIANTS if f.name == name), None)
