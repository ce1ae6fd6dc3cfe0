"""An export's settings: their defaults live here, and brainedge-export's options read them.

No TensorFlow here, so ``brainedge-export --help`` (and the tests) can read the defaults cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass

from brainedge.edge_runtime.formats import DEFAULT_FORMATS

IO_DTYPES = ("uint8", "int8", "float32")
VERIFY_SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ExportSettings:
    formats: tuple[str, ...] = DEFAULT_FORMATS
    representative: int = 200
    """Training images that calibrate the int8 formats' activation ranges."""
    io_dtype: str = "uint8"
    """Input/output type of full-integer TFLite models."""
    verify_split: str = "val"
    verify_limit: int | None = None
    min_agreement: float = 0.97
    """Top-1 agreement with the Keras model below which a bundle is not kept."""
    debug_threshold: float = 1.0
    """Accuracy points an int8 format may lose against the float model before it is debugged per layer."""


DEFAULTS = ExportSettings()
