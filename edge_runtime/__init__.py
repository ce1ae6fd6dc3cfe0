"""BrainEdge edge runtime: classify images with an exported model bundle, without TensorFlow.

The names below load on first use (PEP 562): a process that imports only ``errors`` or ``files``
(training, the serve front end, ``--help``) carries neither the classifier nor the version lookup,
whose ``importlib.metadata`` alone adds about 3.5 MB of resident memory on a Raspberry Pi.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "Bundle": "bundle",
    "BrainEdgeError": "errors",
    "BundleMetadata": "metadata",
    "Classifier": "classifier",
    "ClassifierOptions": "classifier",
    "InputSpec": "metadata",
    "OutputSpec": "metadata",
    "Prediction": "classifier",
    "Quantization": "metadata",
    "__version__": "version",
}
"""Each public name and the module of this package that defines it."""

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*(name for name in globals() if name.startswith("__")), *_HOMES})
