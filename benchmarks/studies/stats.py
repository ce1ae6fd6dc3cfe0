"""Statistics only the studies need: the spread of a score over training runs (seeds), and an
accuracy interval over images that come in near-duplicate groups.

They live beside the studies, not in the runtime: a device scores one model on one split, which
``brainedge.edge_runtime.metrics`` covers (Wilson intervals, the paired test); comparing recipes
over seeds is the lab's question.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from brainedge.edge_runtime.metrics import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, CONFIDENCE, interval_text


def group_bootstrap_interval(
    correct: np.ndarray, groups: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """95% percentile interval of accuracy over images that come in near-duplicate groups.

    Whole groups are drawn with replacement (a cluster bootstrap): a slice saved 14 times is one draw
    of the data, not 14, which per-image intervals (Wilson) assume and so come out too narrow."""
    _, group_of = np.unique(np.asarray(groups), return_inverse=True)
    right = np.bincount(group_of, weights=np.asarray(correct, dtype=float))
    size = np.bincount(group_of).astype(float)
    draws = np.random.default_rng(seed).multinomial(len(size), np.full(len(size), 1 / len(size)), size=resamples)
    accuracies = (draws @ right) / (draws @ size)
    low, high = np.quantile(accuracies, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
    return (float(low), float(high))


SPREAD_CAVEAT = (
    "The mean's interval over runs is Student's t (t = 12.7 with 2 runs, 4.30 with 3): it assumes the runs' scores are "
    "normally spread, and with so few runs it and the sd are rough. A run's own interval covers the sampling "
    "error of its test images only, not the run-to-run noise the spread over seeds shows."
)


@dataclass(frozen=True)
class Spread:
    """One score over several runs of a recipe (seeds): how far a single run can be trusted."""

    runs: int
    mean: float
    sd: float | None
    """Sample standard deviation (n - 1); None for one run."""
    minimum: float
    maximum: float
    interval: tuple[float, float] | None
    """95% Student-t interval of the mean, assuming normally spread runs, clipped to [0, 1]; None for one run."""

    def record(self) -> dict[str, object]:
        return {
            "runs": self.runs,
            "mean": self.mean,
            "sd": self.sd,
            "min": self.minimum,
            "max": self.maximum,
            "mean_interval": None if self.interval is None else list(self.interval),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Spread:
        interval = record["mean_interval"]
        return cls(
            record["runs"],
            record["mean"],
            record["sd"],
            record["min"],
            record["max"],
            None if interval is None else tuple(interval),
        )

    def summary(self, digits: int = 4) -> str:
        """``0.9808 ± 0.0018 (range 0.9790 to 0.9825), mean's 95% interval [0.9765, 0.9852], n=3``."""
        if self.sd is None or self.interval is None:
            return f"{self.mean:.{digits}f} (one run)"
        return (
            f"{self.mean:.{digits}f} ± {self.sd:.{digits}f} "
            f"(range {self.minimum:.{digits}f} to {self.maximum:.{digits}f}), "
            f"mean's 95% interval {interval_text(self.interval, digits)}, n={self.runs}"
        )


def spread(values: list[float] | np.ndarray) -> Spread:
    """Mean, sd, range and the t-interval of the mean of one score over several runs."""
    values = np.asarray(values, np.float64)
    if len(values) == 0:
        raise ValueError("a spread needs at least one run")
    mean = float(values.mean())
    if len(values) == 1:
        return Spread(1, mean, None, mean, mean, None)
    sd = float(values.std(ddof=1))
    half = student_t_quantile(CONFIDENCE, len(values) - 1) * sd / math.sqrt(len(values))
    interval = (max(0.0, mean - half), min(1.0, mean + half))  # every score here is a proportion
    return Spread(len(values), mean, sd, float(values.min()), float(values.max()), interval)


def student_t_quantile(confidence: float, degrees_of_freedom: int) -> float:
    """t such that P(|T| <= t) = ``confidence`` for Student's t: 4.303 for 95% and 2 degrees of freedom."""
    low, high = 0.0, 1.0
    while _t_central_mass(high, degrees_of_freedom) < confidence:
        high *= 2
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if _t_central_mass(middle, degrees_of_freedom) < confidence else (low, middle)
    return (low + high) / 2


def _t_central_mass(t: float, degrees_of_freedom: int) -> float:
    """P(|T| <= t) for integer degrees of freedom, by the finite series of Abramowitz & Stegun 26.7.3-4."""
    theta = math.atan(t / math.sqrt(degrees_of_freedom))
    cos_squared = math.cos(theta) ** 2
    total = 0.0
    if degrees_of_freedom % 2:
        term = math.cos(theta)
        for j in range(1, (degrees_of_freedom - 1) // 2 + 1):
            total += term
            term *= cos_squared * (2 * j) / (2 * j + 1)
        return 2 / math.pi * (theta + math.sin(theta) * total)
    term = 1.0
    for j in range(1, degrees_of_freedom // 2 + 1):
        total += term
        term *= cos_squared * (2 * j - 1) / (2 * j)
    return math.sin(theta) * total
