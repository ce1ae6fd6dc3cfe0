"""Plots of a training run: learning curves, confusion matrix, one-vs-rest ROC."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from brainedge.edge_runtime.metrics import roc_curve  # noqa: E402
from brainedge.train.run_dir import RunDirectory  # noqa: E402


def plot_run(
    run: RunDirectory, name: str, results: dict[str, Any], splits: dict[str, list], class_names: list[str]
) -> None:
    """Write curves.png, and confusion_<name>.png / roc_<name>.png for the held-out split."""
    plots = run.plots_dir
    plots.mkdir(exist_ok=True)
    _learning_curves(run.history(), plots / "curves.png")
    split = "test" if "test" in results else "val"
    labels = np.array([label for _, label in splits[split]])
    _confusion(
        np.array(results[split]["confusion_matrix"]),
        class_names,
        f"{name} model, {split} split",
        plots / f"confusion_{name}.png",
    )
    _roc(
        labels, results[split]["_probabilities"], class_names, f"{name} model, {split} split", plots / f"roc_{name}.png"
    )


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


def _confusion(matrix: np.ndarray, class_names: list[str], title: str, out: Path) -> None:
    figure, axis = plt.subplots(figsize=(1.2 * len(class_names) + 2, 1.2 * len(class_names) + 1.5))
    axis.imshow(matrix, cmap="Blues")
    for (row, col), count in np.ndenumerate(matrix):
        axis.text(
            col, row, str(count), ha="center", va="center", color="white" if count > matrix.max() / 2 else "black"
        )
    axis.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    axis.set_yticks(range(len(class_names)), class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title)
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
