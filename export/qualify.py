"""Fit what qualifies a bundle's answers, from that bundle's own outputs (an int8 model's features
and logits are not the float model's): a temperature, an out-of-distribution model and its
threshold, and, when asked for, a referral threshold that reaches a target accuracy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from brainedge.edge_runtime.calibration import (
    between,
    calibration_scores,
    fit_temperature,
    negative_log_likelihood,
    referral_threshold,
)
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.head import PpcaMahalanobis, beyond_threshold, softmax
from brainedge.edge_runtime.metadata import Calibration, OutOfDistribution, Referral

OOD_TENSORS = {"class_means": "ood.class_means", "basis": "ood.basis", "variances": "ood.variances"}


@dataclass(frozen=True)
class SplitOutputs:
    """One split's outputs from a bundle, uncalibrated: logits and pooled features per image."""

    logits: np.ndarray
    features: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class Qualification:
    calibration: Calibration
    out_of_distribution: OutOfDistribution
    ood_tensors: dict[str, np.ndarray]
    referral: Referral | None
    confidence_threshold: float | None
    """The referral's threshold, or None to keep the bundle's default."""


def qualify(
    train: SplitOutputs,
    val: SplitOutputs,
    components: int,
    rejection: float,
    target_accuracy: float | None,
    val_held_out: bool = True,
) -> Qualification:
    """Temperature and referral from validation; the OOD model from training images, its threshold from validation.

    ``val_held_out`` False (a run trained on its validation images, --refit) is written into both fit
    records, so the bundle's metadata says its temperature and threshold were fitted on trained images."""
    calibration = fit_calibration(val)
    statistics = fit_ppca(train.features, train.labels, val.logits.shape[1], components)
    ood, tensors, refused = out_of_distribution(statistics, train, val, rejection)
    calibration.fit["val_held_out"] = ood.fit["val_held_out"] = val_held_out
    referral, threshold = None, None
    if target_accuracy is not None:
        referral, threshold = choose_referral(val, calibration.temperature, refused, target_accuracy)
    return Qualification(calibration, ood, tensors, referral, threshold)


def fit_calibration(val: SplitOutputs) -> Calibration:
    """The NLL-optimal temperature, kept only when it also helps validation images it was not fitted on.

    Two folds of the validation split: a temperature fitted on one half must lower the other half's
    NLL (summed over both ways) or the bundle keeps T = 1 — with a few hundred images and a handful
    of errors, a fitted temperature can be noise that makes held-out answers worse.
    """
    fit: dict[str, Any] = {"split": "val", "count": len(val.labels)}
    first, second = (np.arange(len(val.labels)) % 2 == parity for parity in (0, 1))
    held_out_gain = sum(
        _nll(val, held_out, 1.0) - _nll(val, held_out, _fitted(val, fitted_on))
        for fitted_on, held_out in ((first, second), (second, first))
    )
    if (val.logits.argmax(axis=1) == val.labels).all():
        # no wrong answer to weigh: NLL keeps falling as T -> 0, so there is no temperature to find
        temperature = 1.0
        fit["note"] = "every validation answer is right: no temperature can be estimated, 1 kept"
    elif held_out_gain <= 0:
        temperature = 1.0
        fit["note"] = "a temperature fitted on half the validation split did not lower the other half's NLL: 1 kept"
    else:
        temperature = fit_temperature(val.logits, val.labels)
    fit["held_out_nll_gain"] = round(float(held_out_gain), 6) + 0.0
    before = calibration_scores(softmax(val.logits), val.labels)
    after = calibration_scores(softmax(val.logits, temperature), val.labels)
    return Calibration(temperature=temperature, fit={**fit, "before": _rounded(before), "after": _rounded(after)})


def _fitted(val: SplitOutputs, rows: np.ndarray) -> float:
    logits, labels = val.logits[rows], val.labels[rows]
    return 1.0 if (logits.argmax(axis=1) == labels).all() else fit_temperature(logits, labels)


def _nll(val: SplitOutputs, rows: np.ndarray, temperature: float) -> float:
    """Summed (not mean) NLL of some validation rows, so the two folds weigh by their size."""
    return negative_log_likelihood(softmax(val.logits[rows], temperature), val.labels[rows]) * int(rows.sum())


def choose_referral(
    val: SplitOutputs, temperature: float, refused: np.ndarray, target_accuracy: float
) -> tuple[Referral, float]:
    """The referral threshold over the answers the bundle gives at all (refused images are never accepted).

    Coverage counts accepted answers among all validation images. Confidences are float32, as every
    runtime prints and compares them: near 1 many round to the same value, and the threshold must
    accept or refer such ties the way the device will.
    """
    calibrated = softmax(val.logits, temperature).astype(np.float32)
    kept = ~refused
    correct = calibrated.argmax(axis=1) == val.labels
    choice = referral_threshold(calibrated.max(axis=1)[kept].astype(np.float64), correct[kept], target_accuracy)
    coverage = choice.coverage * kept.mean()
    return Referral(target_accuracy, float(coverage), choice.accuracy, len(val.labels)), choice.threshold


def fit_ppca(features: np.ndarray, labels: np.ndarray, num_classes: int, components: int) -> PpcaMahalanobis:
    """Class means and a shared within-class covariance, kept as its leading ``components`` directions
    plus the mean variance of the rest (probabilistic PCA: the full 1280 x 1280 matrix would not fit a phone)."""
    features = np.asarray(features, np.float64)
    present = np.unique(labels)
    if len(present) < num_classes:
        missing = sorted(set(range(num_classes)) - set(present.tolist()))
        raise BrainEdgeError(f"no training images of class index {missing} to fit the out-of-distribution model")
    means = np.stack([features[labels == c].mean(axis=0) for c in range(num_classes)])
    centred = features - means[labels]
    covariance = centred.T @ centred / len(features)
    variances, vectors = np.linalg.eigh(covariance)
    variances, vectors = variances[::-1], vectors[:, ::-1]
    dimension = len(variances)
    kept = max(1, min(components, dimension - 1, len(features) - num_classes))
    residual = float(max(variances[kept:].mean(), variances[0] * 1e-6, 1e-12))
    return PpcaMahalanobis(means, vectors[:, :kept], np.maximum(variances[:kept], residual), residual)


def out_of_distribution(
    statistics: PpcaMahalanobis, train: SplitOutputs, val: SplitOutputs, rejection: float
) -> tuple[OutOfDistribution, dict[str, np.ndarray], np.ndarray]:
    """The threshold rejects ``rejection`` of the validation images (the in-distribution cost it accepts).

    Scores are computed with the statistics as the head file stores them (float32), as the runtime will.
    """
    statistics = PpcaMahalanobis(
        *(np.float32(array).astype(np.float64) for array in (statistics.class_means, statistics.basis)),
        np.float32(statistics.variances).astype(np.float64),
        statistics.residual_variance,
    )
    scores = statistics.distances(np.asarray(val.features, np.float64))
    ranked = np.sort(scores)[::-1]
    refused = int(np.floor(rejection * len(scores)))  # at most this share of validation is refused
    # halfway between the last refused and the first kept score (see calibration.between)
    threshold = -between(-ranked[refused], -ranked[refused - 1] if refused else None)
    spec = OutOfDistribution(
        threshold=threshold,
        class_means=OOD_TENSORS["class_means"],
        basis=OOD_TENSORS["basis"],
        variances=OOD_TENSORS["variances"],
        residual_variance=statistics.residual_variance,
        fit={
            "components": int(statistics.basis.shape[1]),
            "train_images": len(train.labels),
            "val_images": len(val.labels),
            "target_val_rejection": rejection,
            "val_rejection": float(beyond_threshold(scores, threshold).mean()),
        },
    )
    tensors = {
        OOD_TENSORS["class_means"]: statistics.class_means.astype(np.float32),
        OOD_TENSORS["basis"]: statistics.basis.astype(np.float32),
        OOD_TENSORS["variances"]: statistics.variances.astype(np.float32),
    }
    return spec, tensors, beyond_threshold(scores, threshold)


def _rounded(scores: dict[str, float]) -> dict[str, Any]:
    return {name: round(value, 6) + 0.0 for name, value in scores.items()}  # + 0.0: no "-0.0" in the JSON
