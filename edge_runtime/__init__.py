"""BrainEdge edge runtime: classify images with an exported model bundle, without TensorFlow."""

from importlib import metadata as _metadata

from brainedge.edge_runtime.bundle import Bundle
from brainedge.edge_runtime.classifier import Classifier, Prediction
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.metadata import BundleMetadata, InputSpec, OutputSpec, Quantization

try:
    __version__ = _metadata.version("brainedge")
except _metadata.PackageNotFoundError:  # a source tree on PYTHONPATH (the aarch64 probe's view)
    __version__ = "0+unknown"

__all__ = [
    "Bundle",
    "BrainEdgeError",
    "BundleMetadata",
    "Classifier",
    "InputSpec",
    "OutputSpec",
    "Prediction",
    "Quantization",
    "__version__",
]
