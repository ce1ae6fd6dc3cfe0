"""What brainedge-train reports a model's score on: the leak-free test images first, the all-images
figure beside it and labelled, every score with its interval; the training record reads older runs
the same way and gives the spread over seeds (on generated answers and run folders, no TensorFlow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from brainedge.benchmarks.studies import train_report
from brainedge.edge_runtime.manifest import Manifest, ManifestRow, read_manifest, write_manifest
from brainedge.edge_runtime.metrics import classification_report, wilson_interval, with_interval
from brainedge.train.plots import confusion_title, plot_run
from brainedge.train.run_dir import RunDirectory
from brainedge.train.scoring import (
    SplitAnswers,
    images_label,
    split_reports,
    stored_reports,
    summary_line,
    with_intervals,
)

CLASSES = ["glioma", "notumor"]


def answers(split: str, right: list[bool], leaked: list[bool]) -> SplitAnswers:
    """Alternating true classes, answered right or wrong as told, with the manifest's leaked flags."""
    labels = np.arange(len(right)) % 2
    predicted = np.where(right, labels, 1 - labels)
    probabilities = np.eye(2)[predicted] * 0.8 + 0.1
    return SplitAnswers(split, labels, probabilities, np.array(leaked))


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


def manifest_with_test_images(path: Path, leaked: list[bool]) -> Path:
    """A manifest whose test split has these leaked flags (the images need not exist: only flags are read)."""
    rows = [
        ManifestRow(f"{i}.jpg", CLASSES[i % 2], "test", f"g{i}", "0" * 64, 8, 8, flag) for i, flag in enumerate(leaked)
    ]
    write_manifest(path, Manifest(root=path.parent, rows=rows))
    return path


def older_run(path: Path, manifest: Path, seed: int = 0, right: int = 9) -> Path:
    """A run directory as brainedge-train wrote it before intervals and leak-free test scores."""
    from brainedge.train.config import ModelConfig, TrainConfig

    answered = answers("test", [True] * right + [False] * (10 - right), [False] * 10)
    report = classification_report(answered.labels, answered.probabilities, CLASSES)
    del report["intervals"]
    run = RunDirectory(path)
    config = TrainConfig(model=ModelConfig(num_classes=2), seed=seed).to_dict()
    run.write_config(
        {
            "train": config,
            "class_names": CLASSES,
            "manifest": str(manifest),
            "strategy": "_DefaultDistributionStrategy",
            "replicas": 1,
            "versions": {"tensorflow": "2.21.0"},
        }
    )
    run.write_metrics("float", {"val": report, "test": report})
    return path


def test_an_older_runs_test_figure_is_labelled_by_its_manifest(tmp_path: Path) -> None:
    """Before this version, "test" counted every test image: with leaked ones it is the all-images figure."""
    clean = older_run(tmp_path / "clean", manifest_with_test_images(tmp_path / "clean.csv", [False] * 10))
    reports = stored_reports(RunDirectory(clean).metrics("float"), CLASSES, read_manifest(tmp_path / "clean.csv"))
    assert reports["test"]["leaked_left_out"] == 0 and "intervals" in reports["test"]

    leaky = older_run(tmp_path / "leaky", manifest_with_test_images(tmp_path / "leaky.csv", [False] * 7 + [True] * 3))
    reports = stored_reports(RunDirectory(leaky).metrics("float"), CLASSES, read_manifest(tmp_path / "leaky.csv"))
    assert list(reports) == ["val", "test_with_leaked"] and reports["test_with_leaked"]["leaked_included"] == 3
    assert train_report.main([str(leaky), "--command", "pytest", "--out", str(tmp_path / "record")]) == 2

    other = read_manifest(manifest_with_test_images(tmp_path / "other.csv", [True] * 4))
    changed = stored_reports(RunDirectory(leaky).metrics("float"), CLASSES, other)
    assert "leaked_left_out" not in changed["test"]  # a manifest re-split since the run cannot relabel it


def test_the_training_record_gives_the_spread_over_seeds(tmp_path: Path) -> None:
    manifest = manifest_with_test_images(tmp_path / "manifest.csv", [False] * 10)
    runs = [str(older_run(tmp_path / f"seed{seed}", manifest, seed, right)) for seed, right in enumerate((9, 10, 8))]
    out = tmp_path / "record"
    assert train_report.main([*runs, "--command", "pytest", "--out", str(out)]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert [(row["seed"], row["test"]["accuracy"]) for row in record["seeds"]["runs"]] == [(0, 0.9), (1, 1.0), (2, 0.8)]
    accuracy = record["seeds"]["spread"]["float"]["accuracy"]
    assert (accuracy["runs"], accuracy["mean"], accuracy["min"], accuracy["max"]) == (3, pytest.approx(0.9), 0.8, 1.0)
    assert accuracy["sd"] == pytest.approx(0.1) and accuracy["mean_interval"][0] == pytest.approx(
        0.9 - 4.3027 * 0.1 / 3**0.5, abs=1e-4
    )
    text = out.with_suffix(".md").read_text()
    assert "## Spread over seeds" in text and "n=3" in text and "Student's t" in text


def test_runs_of_different_recipes_are_not_averaged_as_seeds(tmp_path: Path, capsys) -> None:
    manifest = manifest_with_test_images(tmp_path / "manifest.csv", [False] * 10)
    first, other = older_run(tmp_path / "a", manifest), older_run(tmp_path / "b", manifest, seed=1)
    config = json.loads((other / "config.json").read_text())
    config["train"]["finetune_epochs"] += 1
    (other / "config.json").write_text(json.dumps(config))
    assert train_report.main([str(first), str(other), "--command", "pytest", "--out", str(tmp_path / "r")]) == 2
    error = capsys.readouterr().err
    assert "differs from" in error and "finetune_epochs" in error


def test_the_training_record_states_the_phases_the_trainer_ran(tmp_path: Path) -> None:
    """Pretrained: head, fine-tune and QAT; from scratch (--weights none) one phase trains everything."""
    manifest = manifest_with_test_images(tmp_path / "manifest.csv", [False] * 10)
    pretrained, scratch = older_run(tmp_path / "pretrained", manifest), older_run(tmp_path / "scratch", manifest)
    config = json.loads((scratch / "config.json").read_text())
    config["train"]["model"]["weights"] = "none"
    (scratch / "config.json").write_text(json.dumps(config))
    texts = []
    for run in (pretrained, scratch):
        assert train_report.main([str(run), "--command", "pytest", "--out", str(tmp_path / run.name)]) == 0
        texts.append((tmp_path / f"{run.name}.md").read_text())
    assert "head 2 epoch(s) at 0.001 (head only, batch norm frozen); then finetune 12 epoch(s)" in texts[0]
    assert "; then qat 1 epoch(s) at 1e-05 (every layer, batch norm frozen)" in texts[0]
    assert (
        "`none`; scratch 14 epoch(s) at 0.001 with cosine decay (every layer, batch norm trained); then qat" in texts[1]
    )
    assert "head 2 epoch(s)" not in texts[1]


@pytest.mark.parametrize(
    ("setting", "stated"),
    [
        ({}, "the best epoch by val accuracy kept, early stopping patience 4"),
        ({"keep_last_epoch": True}, "every epoch run and the last one's weights kept"),
        ({"refit": True}, "trained on train + val, every epoch run and the last one's weights kept"),
    ],
)
def test_the_training_record_states_which_weights_were_kept(tmp_path: Path, setting: dict, stated: str) -> None:
    manifest = manifest_with_test_images(tmp_path / "manifest.csv", [False] * 10)
    run = older_run(tmp_path / "run", manifest)
    config = json.loads((run / "config.json").read_text())
    config["train"].update(setting)
    (run / "config.json").write_text(json.dumps(config))
    assert train_report.main([str(run), "--command", "pytest", "--out", str(tmp_path / "record")]) == 0
    assert f"Batch 32, {stated}, label smoothing" in (tmp_path / "record.md").read_text()
