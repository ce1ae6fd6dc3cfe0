"""What export reads from a training run directory, and the data it draws from the manifest."""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.manifest import Manifest, read_manifest
from brainedge.edge_runtime.metadata import InputSpec, spec_from_dict
from brainedge.edge_runtime.preprocess import decode_rgb, to_input_tensor
from brainedge.edge_runtime.scoring import labelled_split
from brainedge.train.config import TrainConfig
from brainedge.train.run_dir import CONFIG_FIELDS, RunDirectory, checked_config, damaged
from brainedge.train.tf_setup import keras


@dataclass
class TrainingRun:
    """A finished brainedge-train run: its settings, class names, input contract and manifest."""

    path: Path
    train: TrainConfig
    """Read through ``RunDirectory.train_config``: a misspelt or ill-typed setting is refused there."""
    versions: dict[str, Any]
    """The library versions that trained it (provenance)."""
    class_names: list[str]
    input_spec: InputSpec
    manifest: Manifest
    manifest_path: Path

    @classmethod
    def open(cls, path: Path) -> TrainingRun:
        """Read a run directory that brainedge-train finished.

        Raises:
            BrainEdgeError: not a run, a damaged config.json, or no trained model yet.
        """
        directory = RunDirectory(path)
        config = checked_config(directory.config_path, directory.read_config(), tuple(CONFIG_FIELDS))
        train = directory.train_config()
        if not directory.float_model_path.exists():
            raise BrainEdgeError(f"{path}: no trained model ({directory.float_model_path.name}); did training finish?")
        manifest_path = Path(config["manifest"])
        return cls(
            path,
            train,
            config.get("versions", {}),
            config["class_names"],
            spec_from_dict(InputSpec, config["input"]),
            read_manifest(manifest_path),
            manifest_path,
        )

    @property
    def directory(self) -> RunDirectory:
        return RunDirectory(self.path)

    def missing_qat_model(self) -> str | None:
        """Why the run has no QAT model, with the command that makes one; None when it has one."""
        if self.directory.qat_model_path.exists():
            return None
        if self.train.qat_epochs > 0:
            resume = f"brainedge-train --resume --out {shlex.quote(str(self.path))}"
            return f"this run's quantization-aware training has not finished: {resume}"
        return "this run was trained with --qat-epochs 0: train with --qat-epochs 1 or more"

    def load_float_model(self) -> keras.Model:
        try:
            return keras.models.load_model(self.directory.float_model_path)
        except (OSError, ValueError) as error:  # a truncated or foreign file
            raise damaged(self.directory.float_model_path, str(error).splitlines()[0]) from None

    def provenance(self) -> dict[str, Any]:
        """Where a bundle came from: base weights, data fingerprint, training versions."""
        weights = self.train.model.weights
        record: dict[str, Any] = {
            "base_model": f"MobileNetV2(alpha={self.train.model.alpha})",
            "base_weights": weights,
            "dataset_manifest": str(self.manifest_path),
            "dataset_fingerprint": _sha256(self.manifest_path),
            "training_run": str(self.path.resolve()),
            "training_versions": self.versions,
        }
        if weights not in ("imagenet", "none") and Path(weights).is_file():
            record["base_weights_sha256"] = _sha256(Path(weights))
        return record


def load_qat_model(run: TrainingRun) -> keras.Model:
    """The QAT model: the float model re-wrapped for quantization, then the QAT weights loaded.

    ``keras.models.load_model`` cannot read a saved QAT model back (tfmot 0.8.1 with tf_keras
    2.21: its QuantizeLayer rebuilds with 5 variables where 3 were saved); rebuilding the
    wrapper from the float model gives the saved structure, and ``load_weights`` checks that
    every variable matches.
    """
    from brainedge.train.qat import quantize_for_training

    model = quantize_for_training(run.load_float_model())
    try:
        model.load_weights(run.directory.qat_model_path)
    except OSError as error:  # truncated
        raise damaged(run.directory.qat_model_path, str(error).splitlines()[0]) from None
    except ValueError as error:
        raise BrainEdgeError(
            f"{run.directory.qat_model_path}: does not fit the run's float model ({str(error).splitlines()[0]})"
        ) from None
    return model


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class LabelledImages:
    """Decoded images of one split, decoded once and shared by every artifact's check."""

    paths: list[Path]
    labels: np.ndarray
    images: list[np.ndarray]
    leaked_left_out: int = 0
    """Test images the split left out for a near-duplicate in train or val (``scoring.labelled_split``)."""

    @classmethod
    def load(cls, run: TrainingRun, split: str, limit: int | None = None) -> LabelledImages:
        """The split's images; test images with a near-duplicate in train or val are left out."""
        files, left_out = _split_files(run, split)
        return cls.of(files[:limit] if limit else files, left_out)

    @classmethod
    def sample(cls, run: TrainingRun, split: str, count: int, seed: int = 0) -> LabelledImages:
        """At most ``count`` images of a split, drawn evenly across it (a manifest lists class by class)."""
        files, left_out = _split_files(run, split)
        chosen = np.random.default_rng(seed).choice(len(files), size=min(count, len(files)), replace=False)
        return cls.of([files[i] for i in sorted(chosen)], left_out)

    @classmethod
    def of(cls, files: list[tuple[Path, int]], leaked_left_out: int = 0) -> LabelledImages:
        return cls(
            [p for p, _ in files],
            np.array([label for _, label in files]),
            [decode_rgb(path) for path, _ in files],
            leaked_left_out,
        )

    def float_inputs(self, spec: InputSpec) -> np.ndarray:
        """The float model inputs, through the edge runtime's preprocessing."""
        return np.concatenate([to_input_tensor(image, spec) for image in self.images])


def _split_files(run: TrainingRun, split: str) -> tuple[list[tuple[Path, int]], int]:
    """(path, class index) of the images a split's score counts, and the leaked ones it left out."""
    chosen = labelled_split(run.manifest, split)
    if not chosen.paths:
        raise BrainEdgeError(f"{run.manifest_path}: the {split} split is empty")
    return list(zip(chosen.paths, chosen.labels.tolist())), chosen.leaked_left_out


def representative_inputs(run: TrainingRun, count: int, seed: int = 0) -> np.ndarray:
    """``count`` training images, evenly drawn across the split, preprocessed as the device will."""
    files = run.manifest.files("train")
    if count < 1:
        raise BrainEdgeError(f"--representative must be at least 1, not {count}")
    if len(files) < count:
        raise BrainEdgeError(
            f"{run.manifest_path}: {count} representative images requested, "
            f"the train split has only {len(files)} (lower --representative)"
        )
    chosen = np.random.default_rng(seed).choice(len(files), size=count, replace=False)
    return np.concatenate([to_input_tensor(decode_rgb(files[i][0]), run.input_spec) for i in sorted(chosen)])
