"""Run folders as brainedge-train wrote them before intervals and leak-free test scores, for the scoring
tests and the training record's (no TensorFlow: generated answers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from brainedge.edge_runtime.manifest import Manifest, ManifestRow, write_manifest
from brainedge.edge_runtime.metrics import classification_report
from brainedge.train.run_dir import RunDirectory
from brainedge.train.scoring import SplitProbabilities

CLASSES = ["glioma", "notumor"]


def answers(split: str, right: list[bool], leaked: list[bool]) -> SplitProbabilities:
    """Alternating true classes, answered right or wrong as told, with the manifest's leaked flags."""
    labels = np.arange(len(right)) % 2
    predicted = np.where(right, labels, 1 - labels)
    probabilities = np.eye(2)[predicted] * 0.8 + 0.1
    return SplitProbabilities(split, labels, probabilities, np.array(leaked))


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
