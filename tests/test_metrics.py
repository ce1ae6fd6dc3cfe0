"""The statistics every score is reported with: intervals and the paired test.

Known values are from references (Newcombe 1998 for Wilson) or computed by
hand (McNemar's exact p-values); the bootstrap is checked for its
coverage on synthetic data with a known population value, and for its seeded determinism.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from brainedge.edge_runtime.metrics import (
    bootstrap_confusions,
    classification_report,
    exact_mcnemar_p,
    macro_f1_interval,
    paired_test,
    per_class_scores,
    score_intervals,
    wilson_interval,
    with_interval,
)

MATRIX = np.array([[193, 3, 0, 2], [0, 194, 3, 4], [1, 1, 236, 1], [0, 0, 0, 219]])
"""The 224 px float model's test confusion matrix: rows true, columns predicted."""


@pytest.mark.parametrize(
    "successes, total, low, high",
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_interval_matches_newcombes_table(successes: int, total: int, low: float, high: float) -> None:
    """Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (score interval, no continuity correction)."""
    assert wilson_interval(successes, total) == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_stays_inside_zero_and_one() -> None:
    """By the formula alone, 5 of 5 gives an upper bound of 1.0000000000000002 and 0 of 5 a lower one of -3e-17."""
    assert wilson_interval(5, 5)[1] == 1.0 and wilson_interval(0, 5)[0] == 0.0
    assert wilson_interval(219, 219)[0] == pytest.approx(0.98276, abs=1e-5)  # all right still leaves doubt
    assert all(math.isnan(bound) for bound in wilson_interval(0, 0))


@pytest.mark.parametrize(
    "right_to_wrong, wrong_to_right, p",
    [
        (0, 0, 1.0),  # no flips: nothing to test
        (1, 0, 1.0),  # 2 * 1/2
        (3, 0, 0.25),  # 2 * 1/8
        (5, 0, 0.0625),  # 2 * 1/32
        (6, 0, 0.03125),  # 2 * 1/64
        (10, 2, 0.03857421875),  # 2 * (1 + 12 + 66) / 4096
        (2, 10, 0.03857421875),  # two-sided: the direction does not matter
        (7, 7, 1.0),  # an even split; the doubled tail is capped at 1
    ],
)
def test_exact_mcnemar_p_values_computed_by_hand(right_to_wrong: int, wrong_to_right: int, p: float) -> None:
    assert exact_mcnemar_p(right_to_wrong, wrong_to_right) == p


def test_exact_mcnemar_p_stays_exact_with_many_flips() -> None:
    """2**550 is far beyond a float; scipy.stats.binomtest(300, 550).pvalue gives 0.0365787455491027."""
    assert exact_mcnemar_p(300, 250) == pytest.approx(0.0365787455491027, rel=1e-12)
    assert exact_mcnemar_p(3000, 0) == 0.0  # underflows to zero, does not overflow


def test_paired_test_counts_flips_each_way_on_the_same_images() -> None:
    reference = np.array([True, True, True, True, True, False, False, True])
    candidate = np.array([False, False, False, True, False, False, True, True])
    test = paired_test(reference, candidate)
    assert (test.right_to_wrong, test.wrong_to_right) == (4, 1)
    assert test.p_value == 2 * (1 + 5) / 32  # P(X <= 1) for X ~ Binomial(5, 1/2), doubled
    assert test.record() == {"right_to_wrong": 4, "wrong_to_right": 1, "mcnemar_p": 0.375}


def test_bootstrap_resamples_the_images_and_is_seeded() -> None:
    draws = bootstrap_confusions(MATRIX, resamples=4000, seed=1)
    assert draws.shape == (4000, 4, 4) and (draws.sum(axis=(1, 2)) == MATRIX.sum()).all()
    assert np.abs(draws.mean(axis=0) - MATRIX).max() < 1.0  # centred on the observed matrix
    assert (draws[:, MATRIX == 0] == 0).all()  # a cell nobody fell in cannot be drawn
    np.testing.assert_array_equal(draws, bootstrap_confusions(MATRIX, resamples=4000, seed=1))
    assert macro_f1_interval(MATRIX) == macro_f1_interval(MATRIX)
    assert macro_f1_interval(MATRIX, seed=1) != macro_f1_interval(MATRIX, seed=2)


def test_stacked_confusion_matrices_score_one_by_one() -> None:
    draws = bootstrap_confusions(MATRIX, resamples=3, seed=0)
    stacked = per_class_scores(draws)
    for index, matrix in enumerate(draws):
        for name, scores in per_class_scores(matrix).items():
            np.testing.assert_array_equal(stacked[name][index], scores)


def test_macro_f1_interval_covers_the_population_value_about_95_percent_of_the_time() -> None:
    """Test sets drawn from a known population: its macro-F1 falls inside the interval in ~95% of them."""
    shares = np.array([0.3, 0.3, 0.4])
    answers = np.array([[0.90, 0.07, 0.03], [0.05, 0.85, 0.10], [0.02, 0.03, 0.95]])
    population = shares[:, None] * answers
    truth = per_class_scores(population)["f1"].mean()
    rng = np.random.default_rng(0)
    covered = []
    for trial in range(300):
        matrix = rng.multinomial(200, population.ravel()).reshape(3, 3)
        low, high = macro_f1_interval(matrix, resamples=500, seed=trial)
        covered.append(low <= truth <= high)
    assert 0.91 <= np.mean(covered) <= 0.98


def test_score_intervals_of_the_224_px_model() -> None:
    names = ["glioma", "meningioma", "notumor", "pituitary"]
    intervals = score_intervals(MATRIX, names)
    assert intervals["accuracy"] == list(wilson_interval(842, 857))
    low, high = intervals["macro_f1"]
    assert low < per_class_scores(MATRIX)["f1"].mean() < high and high - low < 0.03
    assert intervals["recall"]["glioma"] == list(wilson_interval(193, 198))
    assert intervals["recall"]["pituitary"][0] < 1.0 == intervals["recall"]["pituitary"][1]


def test_classification_report_carries_its_intervals() -> None:
    labels = np.array([0, 0, 1, 1, 1])
    probabilities = np.eye(2)[[0, 1, 1, 1, 0]]
    report = classification_report(labels, probabilities, ["a", "b"])
    assert report["intervals"] == score_intervals(np.array([[1, 1], [1, 2]]), ["a", "b"])
    assert report["intervals"]["accuracy"][0] < report["accuracy"] == 0.6 < report["intervals"]["accuracy"][1]


def test_a_perfect_score_has_a_zero_width_bootstrap_interval() -> None:
    assert macro_f1_interval(np.diag([10, 20])) == (1.0, 1.0)
    assert all(math.isnan(bound) for bound in macro_f1_interval(np.zeros((2, 2), int)))


def test_with_interval_prints_a_score_and_its_bounds() -> None:
    assert with_interval(0.98249, (0.97241, 0.98901)) == "0.9825 [0.9724, 0.9890]"
    assert with_interval(0.98249, [0.97241, 0.98901], digits=3) == "0.982 [0.972, 0.989]"
