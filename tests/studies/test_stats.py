"""The studies' statistics (benchmarks/studies/stats.py): the spread of a score over seeds, and
accuracy intervals over near-duplicate groups. Known values from Student's t tables or computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from brainedge.benchmarks.studies.stats import Spread, group_bootstrap_interval, spread, student_t_quantile
from brainedge.edge_runtime.metrics import wilson_interval


@pytest.mark.parametrize(
    "degrees_of_freedom, quantile",
    [(1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (5, 2.571), (10, 2.228), (29, 2.045), (30, 2.042), (9999, 1.96)],
)
def test_student_t_quantile_matches_the_table(degrees_of_freedom: int, quantile: float) -> None:
    assert student_t_quantile(0.95, degrees_of_freedom) == pytest.approx(quantile, abs=5e-4)


def test_spread_over_three_seeds_computed_by_hand() -> None:
    result = spread([0.9790, 0.9825, 0.9810])
    # deviations from 0.980833: -0.001833, +0.001667, +0.000167; sd = sqrt(6.1667e-6 / 2) = 0.0017559
    assert (result.runs, result.minimum, result.maximum) == (3, 0.9790, 0.9825)
    assert result.mean == pytest.approx(0.9808333, abs=1e-7) and result.sd == pytest.approx(0.0017559, abs=1e-7)
    half = 4.3027 * 0.0017559 / math.sqrt(3)
    assert result.interval == pytest.approx((0.9808333 - half, 0.9808333 + half), abs=1e-6)
    assert result.summary() == "0.9808 ± 0.0018 (range 0.9790 to 0.9825), mean's 95% interval [0.9765, 0.9852], n=3"
    assert result.record()["mean_interval"] == list(result.interval)
    assert Spread.from_record(result.record()) == result  # what a report stored reads back the same


def test_the_spread_interval_stays_within_a_proportion() -> None:
    result = spread([0.9802, 0.9837])  # t = 12.7 with two runs: the unclipped interval reaches 1.0042
    assert result.interval == (pytest.approx(0.9597, abs=1e-4), 1.0)


def test_spread_of_one_run_claims_no_interval() -> None:
    result = spread([0.98])
    assert (result.sd, result.interval, result.summary()) == (None, None, "0.9800 (one run)")
    with pytest.raises(ValueError):
        spread([])


def test_the_group_bootstrap_counts_a_near_duplicate_group_once() -> None:
    correct = np.r_[np.ones(280, bool), np.zeros(20, bool)]  # 93.3%
    rng = np.random.default_rng(1)
    correct = correct[rng.permutation(300)]
    singletons = group_bootstrap_interval(correct, np.arange(300))
    wilson = wilson_interval(280, 300)
    assert singletons[0] < 280 / 300 < singletons[1]
    assert abs((singletons[1] - singletons[0]) - (wilson[1] - wilson[0])) < 0.01  # singletons: per-image sampling

    copies = np.repeat(correct, 9)  # each image saved nine times, one group each: no more evidence than before
    grouped = group_bootstrap_interval(copies, np.repeat(np.arange(300), 9))
    per_image = wilson_interval(int(copies.sum()), len(copies))
    assert grouped[1] - grouped[0] > 2.5 * (per_image[1] - per_image[0])  # sqrt(9) = 3 times as wide
    assert abs((grouped[1] - grouped[0]) - (singletons[1] - singletons[0])) < 0.01
    assert group_bootstrap_interval(np.ones(50, bool), np.arange(50) % 7) == (1.0, 1.0)
