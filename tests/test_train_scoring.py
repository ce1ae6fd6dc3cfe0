"""What brainedge-train reports a model's score on: the leak-free test images first, the all-images
figure beside it and labelled, every score with its interval; the training record reads older runs
the same way (on generated answers and run folders, no TensorFlow)."""

from __future__ import annotations

from older_runs import CLASSES, answers

from brainedge.edge_runtime.metrics import classification_report, wilson_interval, with_interval
from brainedge.train.plots import confusion_title, plot_run
from brainedge.train.run_dir import RunDirectory
from brainedge.train.scoring import (
    images_label,
    split_reports,
    summary_line,
    with_intervals,
)

# Seven leak-free test images (one answered wrong) and three near-duplicates of training images (all right).
TEST = answers("test", [True] * 6 + [False] + [True] * 3, [False] * 7 + [True] * 3)


def test_the_test_figure_leaves_leaked_images_out_and_keeps_the_all_images_one_beside_it() -> None:
    reports = split_reports(TEST, CLASSES)
    assert list(reports) == ["test", "test_with_leaked"]
    headline, everything = reports["test"], reports["test_with_leaked"]
    assert (headline["count"], headline["accuracy"], headline["leaked_left_out"]) == (7, 6 / 7, 3)
    assert (everything["count"], everything["accuracy"], everything["leaked_included"]) == (10, 0.9, 3)
    assert headline["intervals"]["accuracy"] == list(wilson_interval(6, 7))
    assert images_label("test", headline) == "7 leak-free test images (3 near-duplicates of training images left out)"
    assert images_label("test_with_leaked", everything) == (
        "all 10 test images incl. 3 near-duplicates of training images"
    )


def test_a_test_split_without_leaked_images_says_so_and_has_one_figure() -> None:
    reports = split_reports(answers("test", [True, False, True], [False] * 3), CLASSES)
    assert list(reports) == ["test"] and reports["test"]["leaked_left_out"] == 0
    assert images_label("test", reports["test"]) == "3 test images (none a near-duplicate of a training image)"


def test_a_test_split_that_is_all_leaked_has_only_the_labelled_all_images_figure() -> None:
    reports = split_reports(answers("test", [True, True], [True, True]), CLASSES)
    assert list(reports) == ["test_with_leaked"]


def test_validation_is_scored_on_all_its_images() -> None:
    reports = split_reports(answers("val", [True, False, True, True], [False] * 4), CLASSES)
    assert list(reports) == ["val"] and "leaked_left_out" not in reports["val"]
    assert images_label("val", reports["val"]) == "4 validation images"


def test_the_log_line_gives_each_score_with_its_interval_and_its_images() -> None:
    report = split_reports(TEST, CLASSES)["test"]
    low, high = wilson_interval(6, 7)
    assert summary_line("float", "test", report) == (
        f"[float] test: accuracy 0.8571 [{low:.4f}, {high:.4f}], macro-F1 0.8571 "
        f"[{report['intervals']['macro_f1'][0]:.4f}, {report['intervals']['macro_f1'][1]:.4f}] "
        "on 7 leak-free test images (3 near-duplicates of training images left out) (95% intervals)"
    )


def test_a_run_from_before_intervals_gets_the_ones_it_would_have_written() -> None:
    report = classification_report(TEST.labels, TEST.probabilities, CLASSES)
    older = {key: value for key, value in report.items() if key != "intervals"}
    assert with_intervals(older, CLASSES) == report
    assert images_label("test", older) == "10 test images"  # it cannot tell whether any was leaked


def test_the_plots_show_the_leak_free_figure_with_the_all_images_one_in_the_title(tmp_path) -> None:
    reports = split_reports(TEST, CLASSES)
    title = confusion_title("float model", reports)
    assert title.splitlines()[1].startswith("accuracy 0.8571 [")
    assert title.splitlines()[2] == (
        "all 10 test images incl. 3 near-duplicates of training images: "
        f"accuracy {with_interval(0.9, wilson_interval(9, 10))}"
    )
    run = RunDirectory(tmp_path)
    plot_run(run, "float", reports, {"test": TEST}, CLASSES)
    assert (run.plots_dir / "confusion_float.png").stat().st_size > 0
    assert (run.plots_dir / "roc_float.png").stat().st_size > 0
