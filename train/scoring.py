"""A trained model's scores on the manifest's splits, the leak-free test figure first.

A Kaggle ``Testing/`` folder kept as the test split holds images with a near-duplicate in the
training images (flagged ``leaked`` in the manifest): scored on them, a model is partly graded
on what it has already seen. So the test report (``test``) leaves them out, and when there are
any, the all-images figure stands beside it (``test_with_leaked``), labelled as such. Every
score carries its 95% interval (``edge_runtime.metrics``). No TensorFlow: the reports read
these records on any machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from brainedge.edge_runtime.manifest import Manifest
from brainedge.edge_runtime.metrics import classification_report, score_intervals, with_interval

LEAK_FREE_TEST = "test"
WITH_LEAKED = "test_with_leaked"


@dataclass(frozen=True)
class SplitProbabilities:
    """A model's probabilities on one split, in manifest order, with the manifest's ``leaked`` flags."""

    split: str
    labels: np.ndarray
    probabilities: np.ndarray
    leaked: np.ndarray

    def leak_free(self) -> SplitProbabilities:
        kept = ~np.asarray(self.leaked, bool)
        return SplitProbabilities(self.split, self.labels[kept], self.probabilities[kept], self.leaked[kept])


def split_reports(answers: SplitProbabilities, class_names: list[str]) -> dict[str, dict[str, Any]]:
    """``{split: report}``; for the test split the leak-free report, and the all-images one beside it
    when the manifest flags any test image as leaked (none left: the all-images one alone)."""
    if answers.split != LEAK_FREE_TEST:
        return {answers.split: classification_report(answers.labels, answers.probabilities, class_names)}
    leaked = int(np.sum(answers.leaked))
    kept = answers.leak_free()
    reports = {}
    if len(kept.labels):
        reports[LEAK_FREE_TEST] = {
            **classification_report(kept.labels, kept.probabilities, class_names),
            "leaked_left_out": leaked,
        }
    if leaked:
        reports[WITH_LEAKED] = {
            **classification_report(answers.labels, answers.probabilities, class_names),
            "leaked_included": leaked,
        }
    return reports


def images_label(key: str, report: dict[str, Any]) -> str:
    """Which images a report scores, in words: every figure says what it is on."""
    count = report["count"]
    if key == WITH_LEAKED:
        return f"all {count:,} test images incl. {report['leaked_included']:,} near-duplicates of training images"
    if key == LEAK_FREE_TEST:
        left_out = report.get("leaked_left_out")  # absent in runs from before leaked images were counted
        if left_out:
            return f"{count:,} leak-free test images ({left_out:,} near-duplicates of training images left out)"
        return f"{count:,} test images" + (" (none a near-duplicate of a training image)" if left_out == 0 else "")
    return f"{count:,} {'validation' if key == 'val' else key} images"


def summary_line(model: str, key: str, report: dict[str, Any]) -> str:
    """``[float] test: accuracy 0.9825 [0.9714, 0.9893], macro-F1 ... on 857 leak-free test images ...``"""
    intervals = report["intervals"]
    return (
        f"[{model}] {key}: accuracy {with_interval(report['accuracy'], intervals['accuracy'])}, "
        f"macro-F1 {with_interval(report['macro_f1'], intervals['macro_f1'])} on {images_label(key, report)} "
        "(95% intervals)"
    )


def headline_key(reports: dict[str, Any]) -> str:
    """The report a run is judged by: the leak-free test split, else validation."""
    return LEAK_FREE_TEST if LEAK_FREE_TEST in reports else "val"


def stored_reports(stored: dict[str, Any], class_names: list[str], manifest: Manifest | None) -> dict[str, Any]:
    """A metrics file's reports as this version writes them, for runs trained before it.

    Intervals come from each report's confusion matrix (the bootstrap needs nothing else, so they are
    the numbers the run would have written). A test report from before leaked images were left out
    scored all test images: with the run's manifest at hand it is labelled for what it is, the
    all-images figure when the manifest flags near-duplicates, the leak-free one when it flags none.
    """
    reports = {key: with_intervals(report, class_names) for key, report in stored.items()}
    test = reports.get(LEAK_FREE_TEST)
    if test is None or "leaked_left_out" in test or manifest is None:
        return reports
    rows = manifest.split(LEAK_FREE_TEST)
    leaked = sum(row.leaked for row in rows)
    if len(rows) != test["count"]:
        return reports  # the manifest changed since: it cannot tell
    if not leaked:
        return {**reports, LEAK_FREE_TEST: {**test, "leaked_left_out": 0}}
    relabelled = {key: report for key, report in reports.items() if key != LEAK_FREE_TEST}
    return {**relabelled, WITH_LEAKED: {**test, "leaked_included": leaked}}


def with_intervals(report: dict[str, Any], class_names: list[str]) -> dict[str, Any]:
    """A stored report with its intervals, computed from its confusion matrix when it has none."""
    if "intervals" in report:
        return report
    return {**report, "intervals": score_intervals(np.array(report["confusion_matrix"]), class_names)}
