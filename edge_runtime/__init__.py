"""BrainEdge edge runtime: classify images with an exported model bundle, without TensorFlow."""

from brainedge.edge_runtime.classifier import Classifier, Prediction
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.metadata import BundleMetadata, InputSpec, OutputSpec, Quantization

__all__ = ["BrainEdgeError", "BundleMetadata", "Classifier", "InputSpec", "OutputSpec",
           "Prediction", "Quantization"]
