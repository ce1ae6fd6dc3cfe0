"""Plots of a training run: learning curves, confusion matrix, one-vs-rest ROC."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from brainedge.edge_runtime.metrics import roc_curve, with_interval  # noqa: E402
from brainedge.train.run_dir import RunDirectory  # noqa: E402
from brainedge.train.scoring import WITH_LEAKED, SplitProbabilities, headline_key, images_label  # noqa: E402


def plot_run(
    run: RunDirectory,
    name: str,
    reports: dict[str, Any],
    answers: dict[str, SplitProbabilities],
    class_names: list[str],
) -> None:
    """Write curves.png, and confusion_<name>.png / roc_<name>.png on the headline images: the
    leak-free test split (validation when there is none), the all-images figure in the title."""
    plots = run.plots_dir
    plots.mkdir(exist_ok=True)
    _learning_curves(run.history(), plots / "curves.png")
    key = headline_key(reports)
    report = reports[key]
    title = f"{name} model, {images_label(key, report)}"
    _confusion(report, class_names, confusion_title(title, reports), plots / f"confusion_{name}.png")
    shown = answers[key].leak_free()
    _roc(shown.labels, shown.probabilities, class_names, title, plots / f"roc_{name}.png")


def confusion_title(title: str, reports: dict[str, Any]) -> str:
    """The plot's title: which images, the headline accuracy with its interval, then the all-images one."""
    report = reports[headline_key(reports)]
    lines = [title, f"accuracy {with_interval(report['accuracy'], report['intervals']['accuracy'])} (95% interval)"]
    if WITH_LEAKED in reports:
        everything = reports[WITH_LEAKED]
        accuracy = with_interval(everything["accuracy"], everything["intervals"]["accuracy"])
        lines.append(f"{images_label(WITH_LEAKED, everything)}: accuracy {accuracy}")
    return "\n".join(lines)


def _learning_curves(rows: list[dict[str, Any]], out: Path) -> None:
    if not rows:
        return
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    steps = np.arange(1, len(rows) + 1)
    for axis, metric in zip(axes, ("loss", "accuracy")):
        for key, style in ((metric, "-"), (f"val_{metric}", "--")):
            values = [r.get(key, np.nan) for r in rows]
            axis.plot(steps, values, style, marker="o", label=key)
        for boundary in [i + 0.5 for i in range(1, len(rows)) if rows[i]["phase"] != rows[i - 1]["phase"]]:
            axis.axvline(boundary, color="grey", linewidth=0.8)
        axis.set_xlabel("epoch (all phases)")
        axis.set_title(metric)
        axis.legend()
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)


def _confusion(report: dict[str, Any], class_names: list[str], title: str, out: Path) -> None:
    """Counts per (true, predicted) class; each true class labelled with its recall and interval."""
    matrix = np.array(report["confusion_matrix"])
    size = 1.2 * len(class_names)
    figure, axis = plt.subplots(figsize=(size + 3.5, size + 2.2))
    axis.imshow(matrix, cmap="Blues")
    for (row, col), count in np.ndenumerate(matrix):
        axis.text(
            col, row, str(count), ha="center", va="center", color="white" if count > matrix.max() / 2 else "black"
        )
    recalls = [
        f"{name}\nrecall {with_interval(report['per_class'][name]['recall'], report['intervals']['recall'][name], 3)}"
        for name in class_names
    ]
    axis.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    axis.set_yticks(range(len(class_names)), recalls, fontsize=8)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)


def _roc(labels: np.ndarray, probabilities: np.ndarray, class_names: list[str], title: str, out: Path) -> None:
    figure, axis = plt.subplots(figsize=(5, 5))
    for index, name in enumerate(class_names):
        fpr, tpr = roc_curve(labels == index, probabilities[:, index])
        axis.plot(fpr, tpr, label=name)
    axis.plot([0, 1], [0, 1], ":", color="grey")
    axis.set_xlabel("false-positive rate")
    axis.set_ylabel("true-positive rate")
    axis.set_title(title)
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
