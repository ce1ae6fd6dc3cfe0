"""Check an exported bundle against the Keras model, through the edge runtime (not TensorFlow)."""

from __future__ import annotations

from typing import Any

import numpy as np

from brainedge.edge_runtime.metrics import paired_test
from brainedge.edge_runtime.scoring import score_predictions

TIE_MARGIN = 0.01
"""A reference whose top two probabilities differ by less than this has not decided between them:
a bundle that picks the other one there is not disagreeing (an undertrained model is all ties)."""


def compare(probabilities: np.ndarray, reference: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Accuracy (with its 95% interval), top-1 agreement with the reference (all images, and those it
    decided), differences, and the answers that flipped between right and wrong (exact McNemar test)."""
    difference = np.abs(probabilities - reference)
    same = probabilities.argmax(1) == reference.argmax(1)
    ranked = np.sort(reference, axis=1)
    decided = ranked[:, -1] - ranked[:, -2] >= TIE_MARGIN if reference.shape[1] > 1 else np.ones(len(same), bool)
    scored, reference_scored = (
        score_predictions(probabilities.argmax(1), labels),
        score_predictions(reference.argmax(1), labels),
    )
    return {
        "count": scored.count,
        "accuracy": scored.accuracy,
        "accuracy_interval": list(scored.accuracy_interval),
        "reference_accuracy": reference_scored.accuracy,
        "reference_accuracy_interval": list(reference_scored.accuracy_interval),
        "agreement": float(same.mean()),
        "decided_count": int(decided.sum()),
        "decided_agreement": float(same[decided].mean()) if decided.any() else 1.0,
        "mean_abs_diff": float(difference.mean()),
        "max_abs_diff": float(difference.max()),
        "flips": paired_test(reference_scored.correct, scored.correct).record(),
    }


def passes(check: dict[str, Any], min_agreement: float) -> bool:
    """Kept when it agrees with its Keras model on the answers that model actually makes (a model that
    made none, every image a near-tie, is undertrained: its bundle is kept, reported as unverified)."""
    return check["decided_agreement"] >= min_agreement


def verification(
    probabilities: np.ndarray,
    references: dict[str, np.ndarray],
    source: str,
    labels: np.ndarray,
    split: str,
    min_agreement: float,
) -> dict[str, Any]:
    """A bundle's record: against the Keras model it came from, and against the float Keras model
    (``float_flips``: the answers quantization turned from right to wrong and back, on the same images)."""
    check = compare(probabilities, references[source], labels)
    versus_float = compare(probabilities, references["float"], labels)
    check.update(
        split=split,
        reference=f"keras_{source}",
        min_agreement=min_agreement,
        float_reference_accuracy=versus_float["reference_accuracy"],
        float_reference_accuracy_interval=versus_float["reference_accuracy_interval"],
        float_agreement=versus_float["agreement"],
        float_flips=versus_float["flips"],
        accuracy_drop_points=100 * (versus_float["reference_accuracy"] - check["accuracy"]),
    )
    return check
