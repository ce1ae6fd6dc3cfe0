"""Whether probabilities can be taken at their word: temperature fitting, calibration scores, referral.

Plain numpy: export fits with it, the benchmark scores with it, on a Raspberry Pi as well.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Re-exported for the modules that import it from here (export.exporter, the answers study).

ECE_BINS = 15
TEMPERATURE_RANGE = (0.05, 20.0)


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean -log p(true class), probabilities clipped at 1e-12 so one zero cannot make it infinite."""
    chosen = probabilities[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(chosen, 1e-12, 1.0)).mean())


def brier_score(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean squared distance to the one-hot truth, summed over classes (0 best, 2 worst)."""
    truth = np.eye(probabilities.shape[1])[labels]
    return float(((probabilities - truth) ** 2).sum(axis=1).mean())


@dataclass(frozen=True)
class ReliabilityBins:
    """Top-1 confidence against accuracy in equal-width bins: what a reliability diagram draws."""

    edges: np.ndarray
    counts: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray

    @property
    def expected_calibration_error(self) -> float:
        """Sum over bins of |accuracy - confidence| weighted by the bin's share of images."""
        share = self.counts / max(1, self.counts.sum())
        return float((share * np.abs(self.accuracy - self.confidence)).sum())


def reliability_bins(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> ReliabilityBins:
    """Bins (lo, hi] of the top-1 confidence; empty bins have count 0 and confidence = accuracy = 0."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.where(counts > 0, np.bincount(index, confidence, bins) / counts, 0.0)
        accuracy = np.where(counts > 0, np.bincount(index, correct.astype(float), bins) / counts, 0.0)
    return ReliabilityBins(edges, counts, mean_confidence, accuracy)


def calibration_scores(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """ECE (15 equal-width bins), negative log-likelihood and Brier score of one set of answers."""
    labels = np.asarray(labels)
    return {
        "ece": reliability_bins(probabilities, labels).expected_calibration_error,
        "nll": negative_log_likelihood(probabilities, labels),
        "brier": brier_score(probabilities, labels),
    }


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of ``labels`` (Guo et al., 2017).

    NLL is convex in 1/T, so a golden-section search over 1/T finds the optimum to 1e-6. It is computed
    from log-softmax directly: clipping tiny probabilities (as ``negative_log_likelihood`` does for
    reporting) would flatten it where a confident mistake dominates, and the search would walk off.
    """
    logits, labels = np.asarray(logits, np.float64), np.asarray(labels)
    chosen = logits[np.arange(len(labels)), labels]

    def nll(inverse: float) -> float:
        scaled = logits * inverse
        top = scaled.max(axis=1)
        log_sum = top + np.log(np.exp(scaled - top[:, None]).sum(axis=1))
        return float((log_sum - chosen * inverse).mean())

    low, high = 1.0 / TEMPERATURE_RANGE[1], 1.0 / TEMPERATURE_RANGE[0]
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    while high - low > 1e-6:
        if nll(a) < nll(b):
            high, b = b, a
            a = high - ratio * (high - low)
        else:
            low, a = a, b
            b = low + ratio * (high - low)
    return float(2.0 / (low + high))


@dataclass(frozen=True)
class ReferralChoice:
    threshold: float
    coverage: float
    accuracy: float
    reached: bool


def referral_threshold(confidence: np.ndarray, correct: np.ndarray, target_accuracy: float) -> ReferralChoice:
    """The lowest confidence threshold whose accepted answers (confidence >= it) reach ``target_accuracy``.

    When no threshold reaches it, the one with the best accepted accuracy (``reached`` False). The
    threshold lies halfway to the next lower confidence, not on an observed one: a device computing
    the same answer with its own rounding must not land on the other side of it.
    """
    order = np.argsort(-confidence, kind="stable")
    ranked, right = confidence[order], np.asarray(correct, bool)[order]
    accepted = np.arange(1, len(ranked) + 1)
    accuracy = np.cumsum(right) / accepted
    # a threshold accepts every answer with confidence >= it: only the last of equal confidences is a cut
    cuts = np.flatnonzero(np.r_[ranked[1:] < ranked[:-1], True])
    meeting = cuts[accuracy[cuts] >= target_accuracy]
    cut = meeting[-1] if len(meeting) else cuts[np.argmax(accuracy[cuts])]
    return ReferralChoice(
        between(ranked[cut], ranked[cut + 1] if cut + 1 < len(ranked) else None),
        float(accepted[cut] / len(ranked)),
        float(accuracy[cut]),
        bool(len(meeting)),
    )


def between(kept: float, below: float | None) -> float:
    """A threshold that keeps ``kept`` and everything above it, halfway to the next value ``below``
    (or just under ``kept`` when nothing is below), so rounding on another device cannot flip either."""
    if below is None:
        return float(kept - 1e-6 * max(abs(kept), 1e-12))
    return float((kept + below) / 2)


def accepted_answers(confidence: np.ndarray, refused: np.ndarray | None, threshold: float) -> np.ndarray:
    """The one rule of what a bundle answers: not refused as out-of-distribution, and confident enough
    (calibrated top-1 probability at least its confidence_threshold). Coverage is their share of all images."""
    accepted = np.asarray(confidence) >= threshold
    return accepted if refused is None else accepted & ~np.asarray(refused, bool)


def risk_coverage(confidence: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coverage and error rate of the answers accepted at each threshold, most confident first."""
    order = np.argsort(-confidence, kind="stable")
    errors = np.cumsum(~np.asarray(correct, bool)[order])
    accepted = np.arange(1, len(order) + 1)
    return accepted / len(order), errors / accepted
