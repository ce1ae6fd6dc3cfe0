"""The bundle's head: from the model's feature map to calibrated probabilities and an OOD score.

Bundles of schema 2 end their model at the last feature map; the head file holds the dense
layers that turn the pooled features into logits, and the statistics that say whether an
image looks like the training images at all. The same arithmetic runs in the Android app's
Java core (``Head.java``), held to this one by golden tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.metadata import BundleMetadata, HeadSpec, OutOfDistribution
from brainedge.edge_runtime.tensors import read_tensors


@dataclass(frozen=True)
class HeadOutputs:
    """What the head makes of a batch of feature maps, one row per image."""

    features: np.ndarray
    """Pooled features (N, C), float64."""
    logits: np.ndarray
    ood_scores: np.ndarray | None
    """Mahalanobis distances (N,), or None when the bundle carries no out-of-distribution model."""


class Head:
    """Dense layers, temperature and out-of-distribution statistics of one bundle, in float64."""

    def __init__(
        self, spec: HeadSpec, tensors: dict[str, np.ndarray], temperature: float, ood: OutOfDistribution | None
    ) -> None:
        self.spec = spec
        self.temperature = temperature
        self.ood = ood
        self._layers = [
            (_tensor(tensors, layer.kernel), _tensor(tensors, layer.bias), layer.activation) for layer in spec.layers
        ]
        _check_layer_shapes(self._layers, spec.feature_map[-1])
        self.ood_statistics = _ood_statistics(tensors, ood, spec.feature_map[-1]) if ood else None

    @classmethod
    def load(cls, directory: Path, metadata: BundleMetadata) -> Head:
        """The head of a bundle whose metadata has one (the file's SHA-256 is checked by ``Bundle.open``)."""
        spec = metadata.head
        if spec is None:
            raise BrainEdgeError(f"{directory}: the bundle has no head")
        path = directory / spec.file
        tensors = read_tensors(path)
        temperature = metadata.calibration.temperature if metadata.calibration else 1.0
        try:
            return cls(spec, tensors, temperature, metadata.out_of_distribution)
        except BrainEdgeError as error:
            raise BrainEdgeError(f"{path}: {error}") from None

    @property
    def num_classes(self) -> int:
        return self._layers[-1][0].shape[1]

    def run(self, feature_maps: np.ndarray) -> HeadOutputs:
        """Feature maps (N, H, W, C), already dequantized, → pooled features, logits, OOD scores."""
        features = feature_maps.astype(np.float64).reshape(len(feature_maps), -1, feature_maps.shape[-1]).mean(axis=1)
        logits = features
        for kernel, bias, activation in self._layers:
            logits = logits @ kernel + bias
            if activation == "relu":
                logits = np.maximum(logits, 0.0)
        scores = None if self.ood_statistics is None else self.ood_statistics.distances(features)
        return HeadOutputs(features, logits, scores)

    def probabilities(self, logits: np.ndarray, calibrated: bool = True) -> np.ndarray:
        """softmax(logits / T) with the bundle's temperature; ``calibrated=False`` uses T = 1."""
        return softmax(logits, self.temperature if calibrated else 1.0)

    def class_map(self, feature_map: np.ndarray, class_index: int) -> np.ndarray:
        """Where the model saw class ``class_index`` in one image's feature map (H, W, C): a map in [0, 1].

        The feature map weighted by the dense layer's weights for the class (Zhou et al. 2016), its
        positive part, scaled to its maximum (all zero when nothing in the image speaks for the class).
        With global average pooling and one dense layer this is exact, and Grad-CAM's map up to scale;
        hidden layers would make any such map an approximation, so it is refused.
        """
        if len(self._layers) != 1:
            raise BrainEdgeError(
                f"class-activation maps need a head of one dense layer; this bundle's has {len(self._layers)}"
            )
        kernel = self._layers[0][0]
        if feature_map.shape != self.spec.feature_map:
            raise BrainEdgeError(f"a feature map of one image is {self.spec.feature_map}, got {feature_map.shape}")
        if not 0 <= class_index < kernel.shape[1]:
            raise BrainEdgeError(f"class index {class_index} is not one of the head's {kernel.shape[1]} classes")
        positive = np.maximum(feature_map.astype(np.float64) @ kernel[:, class_index], 0.0)
        top = positive.max()
        return positive / top if top > 0 else positive

    def out_of_distribution(self, scores: np.ndarray) -> np.ndarray:
        """Whether each score is beyond the bundle's threshold; a NaN score (a broken input or model) is too."""
        if self.ood is None:
            raise BrainEdgeError("the bundle carries no out-of-distribution model")
        return beyond_threshold(scores, self.ood.threshold)


def beyond_threshold(scores: np.ndarray, threshold: float) -> np.ndarray:
    """The one out-of-distribution rule: a score above the threshold, or NaN, is not recognised."""
    return ~(np.asarray(scores) <= threshold)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature``, in float64, stable for large logits."""
    scaled = np.asarray(logits, np.float64) / temperature
    shifted = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class PpcaMahalanobis:
    """Squared Mahalanobis distance to the nearest class mean under a probabilistic-PCA covariance.

    With orthonormal principal directions B (C x k), their variances v and the residual variance s
    of every other direction, for r = x - mean_c and z = B^T r:
    d_c = sum(z^2 / v) + (|r|^2 - |z|^2) / s, and the score is min over classes of d_c.
    """

    class_means: np.ndarray
    basis: np.ndarray
    variances: np.ndarray
    residual_variance: float

    def distances(self, features: np.ndarray) -> np.ndarray:
        per_class = []
        for mean in self.class_means:
            residual = features - mean
            projected = residual @ self.basis
            inside = (projected**2 / self.variances).sum(axis=1)
            outside = ((residual**2).sum(axis=1) - (projected**2).sum(axis=1)) / self.residual_variance
            per_class.append(inside + np.maximum(outside, 0.0))
        return np.min(per_class, axis=0)


def _ood_statistics(tensors: dict[str, np.ndarray], ood: OutOfDistribution, channels: int) -> PpcaMahalanobis:
    means = _tensor(tensors, ood.class_means).astype(np.float64)
    basis = _tensor(tensors, ood.basis).astype(np.float64)
    variances = _tensor(tensors, ood.variances).astype(np.float64)
    if means.ndim != 2 or means.shape[1] != channels:
        raise BrainEdgeError(f"{ood.class_means} has shape {means.shape}, expected (classes, {channels})")
    if basis.ndim != 2 or basis.shape[0] != channels or variances.shape != (basis.shape[1],):
        raise BrainEdgeError(
            f"{ood.basis} {basis.shape} and {ood.variances} {variances.shape} do not fit {channels} features"
        )
    if not (variances > 0).all():
        raise BrainEdgeError(f"{ood.variances}: variances must be positive")
    return PpcaMahalanobis(means, basis, variances, ood.residual_variance)


def _tensor(tensors: dict[str, np.ndarray], name: str) -> np.ndarray:
    if name not in tensors:
        raise BrainEdgeError(f"no tensor named {name!r}")
    if not np.isfinite(tensors[name]).all():
        raise BrainEdgeError(f"tensor {name!r} has non-finite values (NaN or infinity)")
    return tensors[name].astype(np.float64)


def _check_layer_shapes(layers: list[tuple[np.ndarray, np.ndarray, str]], channels: int) -> None:
    width = channels
    for index, (kernel, bias, _activation) in enumerate(layers):
        if kernel.ndim != 2 or kernel.shape[0] != width or bias.shape != (kernel.shape[1],):
            raise BrainEdgeError(
                f"head layer {index}: kernel {kernel.shape} and bias {bias.shape} do not take {width} inputs"
            )
        width = kernel.shape[1]
