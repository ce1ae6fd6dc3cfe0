"""Classification metrics in plain numpy, shared by training, export checks and benchmarks.

With them the statistics every score needs to be read honestly: a 95% interval for accuracy,
recall and macro-F1, and an exact paired test between two models answering the same images.
Standard library and numpy only, so a Raspberry Pi computes the same numbers as the training
machine. (The spread over training runs is the studies' question: ``benchmarks/studies/stats.py``.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predicted)), 1)
    return matrix


def per_class_scores(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class (0 where undefined, as scikit-learn).

    ``matrix`` may be a stack of confusion matrices (..., C, C): the scores then have shape (..., C).
    """
    true_positive = np.diagonal(matrix, axis1=-2, axis2=-1).astype(np.float64)
    predicted = matrix.sum(axis=-2)
    actual = matrix.sum(axis=-1)
    precision = np.divide(true_positive, predicted, out=np.zeros_like(true_positive), where=predicted > 0)
    recall = np.divide(true_positive, actual, out=np.zeros_like(true_positive), where=actual > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": actual}


def roc_auc_one_vs_rest(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Per-class ROC-AUC (rank statistic, ties averaged); NaN for a class absent or alone."""
    aucs = []
    for c in range(probabilities.shape[1]):
        positive = np.asarray(labels) == c
        n_pos, n_neg = positive.sum(), (~positive).sum()
        if n_pos == 0 or n_neg == 0:
            aucs.append(float("nan"))
            continue
        ranks = _average_ranks(probabilities[:, c])
        aucs.append((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return np.asarray(aucs)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values), np.float64)
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def roc_curve(positive: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates at every threshold, for plotting."""
    order = np.argsort(-scores, kind="mergesort")
    hits = np.asarray(positive)[order]
    tpr = np.concatenate([[0], np.cumsum(hits) / max(hits.sum(), 1)])
    fpr = np.concatenate([[0], np.cumsum(~hits) / max((~hits).sum(), 1)])
    return fpr, tpr


def accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """The share of predicted classes equal to the true ones (NaN for none): the one place it is computed.

    A bundle's figure comes through ``scoring.score_predictions``, which also decides which test images count.
    """
    labels = np.asarray(labels)
    return float((np.asarray(predicted) == labels).mean()) if len(labels) else float("nan")


def classification_report(labels: np.ndarray, probabilities: np.ndarray, class_names: list[str]) -> dict[str, object]:
    """Accuracy, macro-F1, per-class scores, confusion matrix, ROC-AUC and 95% intervals as plain JSON types."""
    labels = np.asarray(labels)
    predicted = probabilities.argmax(axis=1)
    matrix = confusion_matrix(labels, predicted, len(class_names))
    scores = per_class_scores(matrix)
    aucs = roc_auc_one_vs_rest(labels, probabilities)
    return {
        "count": int(len(labels)),
        "accuracy": accuracy(predicted, labels),
        "macro_f1": float(scores["f1"].mean()),
        "per_class": {
            name: {
                "precision": float(scores["precision"][i]),
                "recall": float(scores["recall"][i]),
                "f1": float(scores["f1"][i]),
                "support": int(scores["support"][i]),
                "roc_auc": float(aucs[i]),
            }
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": matrix.tolist(),
        "intervals": score_intervals(matrix, class_names),
    }


# --- intervals -------------------------------------------------------------------------------


def wilson_interval(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion: sound near 0 and 1, where the normal one is not.

    At 0 or N successes the bound there is exactly 0 or 1, where rounding would put it 1e-16 to either side.
    """
    if total == 0:
        return (float("nan"), float("nan"))
    share = successes / total
    centre = (share + z * z / (2 * total)) / (1 + z * z / total)
    half = z * np.sqrt(share * (1 - share) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    low = 0.0 if successes == 0 else float(centre - half)
    high = 1.0 if successes == total else float(centre + half)
    return (low, high)


def bootstrap_confusions(
    matrix: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> np.ndarray:
    """The confusion matrices of ``resamples`` bootstrap samples of the scored images.

    Drawing N images with replacement is drawing N (true, predicted) pairs with replacement:
    multinomial counts over the matrix's cells. So the matrix alone is enough, and an older
    run's stored matrix gives the same interval its images would have.
    """
    matrix = np.asarray(matrix, np.int64)
    total = int(matrix.sum())
    draws = np.random.default_rng(seed).multinomial(total, matrix.ravel() / total, size=resamples)
    return draws.reshape(resamples, *matrix.shape)


def macro_f1_interval(
    matrix: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """95% percentile-bootstrap interval of macro-F1 over the images (F1 has no closed-form interval).

    A perfect matrix resamples to perfect matrices only: its interval is [1, 1], to be read with its count.
    """
    if np.asarray(matrix).sum() == 0:
        return (float("nan"), float("nan"))
    scores = per_class_scores(bootstrap_confusions(matrix, resamples, seed))["f1"].mean(axis=-1)
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(scores, [tail, 100 - tail])
    return (float(low), float(high))


def score_intervals(matrix: np.ndarray, class_names: list[str]) -> dict[str, object]:
    """95% intervals of accuracy and of each class's recall (Wilson: they are proportions, and a
    bootstrap of 219 right answers out of 219 would claim [1, 1]) and of macro-F1 (bootstrap)."""
    matrix = np.asarray(matrix, np.int64)
    right, support = np.diag(matrix), matrix.sum(axis=1)
    return {
        "confidence": CONFIDENCE,
        "method": f"Wilson for accuracy and recall; macro-F1: percentile bootstrap over the images, "
        f"{BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}",
        "accuracy": list(wilson_interval(int(right.sum()), int(matrix.sum()))),
        "macro_f1": list(macro_f1_interval(matrix)),
        "recall": {name: list(wilson_interval(int(right[i]), int(support[i]))) for i, name in enumerate(class_names)},
    }


def interval_text(interval: tuple[float, float] | list[float], digits: int = 4) -> str:
    """``[0.9724, 0.9890]``: a 95% interval as every report prints it."""
    low, high = interval
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def with_interval(value: float, interval: tuple[float, float] | list[float], digits: int = 4) -> str:
    """``0.9825 [0.9724, 0.9890]``: a score and its 95% interval."""
    return f"{value:.{digits}f} {interval_text(interval, digits)}"


# --- two models on the same images -------------------------------------------------------------


@dataclass(frozen=True)
class PairedTest:
    """How a candidate model's answers differ from a reference's on the same images."""

    right_to_wrong: int
    """Images the reference answered right and the candidate wrong."""
    wrong_to_right: int
    """Images the reference answered wrong and the candidate right."""
    p_value: float
    """Exact McNemar: two-sided binomial test of the flips against an even split."""

    def record(self) -> dict[str, float]:
        return {"right_to_wrong": self.right_to_wrong, "wrong_to_right": self.wrong_to_right, "mcnemar_p": self.p_value}


def exact_mcnemar_p(right_to_wrong: int, wrong_to_right: int) -> float:
    """Two-sided p-value that flips this lopsided arise when either direction is equally likely.

    Only the images the two models answer differently count: with b and c of them, under the null
    hypothesis b ~ Binomial(b + c, 1/2). Exact integer arithmetic, so a few flips are not approximated.
    """
    flips = right_to_wrong + wrong_to_right
    if flips == 0:
        return 1.0
    tail = sum(math.comb(flips, k) for k in range(min(right_to_wrong, wrong_to_right) + 1))
    return min(1.0, 2 * tail / 2**flips)


def paired_test(reference_correct: np.ndarray, candidate_correct: np.ndarray) -> PairedTest:
    """Exact McNemar test of a candidate (e.g. an int8 bundle) against a reference (the float model)."""
    reference, candidate = np.asarray(reference_correct, bool), np.asarray(candidate_correct, bool)
    right_to_wrong, wrong_to_right = int((reference & ~candidate).sum()), int((~reference & candidate).sum())
    return PairedTest(right_to_wrong, wrong_to_right, exact_mcnemar_p(right_to_wrong, wrong_to_right))
