"""A training run's directory: the one owner of its file names and formats.

Training writes it; resume, export, the demo and the studies read it, through this type
and never by reading its files (or the console log) on their own. Nothing here imports
TensorFlow: a study can read a run's history on any machine.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import LOCK_NAME, output_lock, write_text_atomically
from brainedge.train.config import TrainConfig

HISTORY_FIELDS = ("phase", "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds", "images_per_s")
"""One row per epoch; ``seconds`` and ``images_per_s`` time the epoch's training steps and validation."""


@dataclass(frozen=True)
class RunDirectory:
    path: Path

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def state_path(self) -> Path:
        return self.path / "state.json"

    @property
    def history_path(self) -> Path:
        return self.path / "history.csv"

    @property
    def float_model_path(self) -> Path:
        return self.path / "model.keras"

    @property
    def qat_model_path(self) -> Path:
        return self.path / "qat_model.keras"

    @property
    def best_weights_path(self) -> Path:
        # Legacy .h5, not .weights.h5: the latter also stores compiled-metric state, which a
        # MirroredStrategy model cannot load back (tf_keras assigns an h5py dataset to a sync-on-read variable).
        return self.path / "checkpoints" / "best.h5"

    @property
    def plots_dir(self) -> Path:
        return self.path / "plots"

    @property
    def tensorboard_dir(self) -> Path:
        """TensorBoard's event files: ``train/`` and ``validation/``, each epoch's loss and accuracy at
        step = its row in history.csv (``tensorboard --logdir RUN/tensorboard``)."""
        return self.path / "tensorboard"

    def backup_dir(self, phase: str) -> Path:
        """Keras' BackupAndRestore folder of one phase: what a killed phase resumes from."""
        return self.path / "backup" / phase

    def metrics_path(self, model: str) -> Path:
        return self.path / f"metrics_{model}.json"

    # --- one process at a time ----------------------------------------------------------------

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK_NAME

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the run directory for this process: a second brainedge-train on it is refused.

        ``output_lock``: released by the kernel when the trainer dies, so a crashed run resumes
        whatever became of its pid; a run that could not start leaves no folder behind.
        """
        with output_lock(self.path, "brainedge-train"):
            yield

    # --- config -------------------------------------------------------------------------------

    def has_config(self) -> bool:
        return self.config_path.is_file()

    def read_config(self) -> dict[str, Any]:
        if not self.has_config():
            raise BrainEdgeError(f"{self.path}: not a training run directory (no {self.config_path.name})")
        config = _read_json(self.config_path)
        return checked_config(self.config_path, config, ("train", "manifest"))

    def train_config(self) -> TrainConfig:
        """The run's settings, typed: what resume and export train or read by.

        Raises:
            BrainEdgeError: config.json is missing, or damaged: a setting unknown to this version (a typo),
                missing, of the wrong type or out of its range, named.
        """
        raw = self.read_config()["train"]
        try:
            config = TrainConfig.from_dict(raw)
            config.check()
        except BrainEdgeError as error:
            raise damaged(self.config_path, str(error)) from None
        return config

    def write_config(self, record: dict[str, Any]) -> None:
        self.best_weights_path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(self.config_path, json.dumps(record, indent=2) + "\n")

    # --- phases --------------------------------------------------------------------------------

    def completed_phases(self) -> list[str]:
        if not self.state_path.exists():
            return []
        state = _read_json(self.state_path)
        completed = state.get("completed") if isinstance(state, dict) else None
        if not isinstance(completed, list) or not all(isinstance(phase, str) for phase in completed):
            raise damaged(self.state_path, 'expected {"completed": [phase names]}')
        return completed

    def mark_completed(self, phase: str) -> None:
        """Record a finished phase and drop its backup: a resume skips it from now on."""
        state = {"completed": [*self.completed_phases(), phase]}
        write_text_atomically(self.state_path, json.dumps(state) + "\n")
        shutil.rmtree(self.backup_dir(phase), ignore_errors=True)

    # --- history -------------------------------------------------------------------------------

    def append_history(self, row: dict[str, Any]) -> None:
        """One epoch's row, appended as the epoch ends (so a killed run keeps its finished epochs)."""
        new = not self.history_path.exists()
        with self.history_path.open("a", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)

    def history(self) -> list[dict[str, Any]]:
        """Every epoch so far, numbers as floats (runs from before the timing columns lack them)."""
        if not self.history_path.exists():
            return []
        rows = csv.DictReader(io.StringIO(_read_text(self.history_path, errors="replace")))
        columns = rows.fieldnames or []
        if columns[:2] != ["phase", "epoch"] or not set(columns) <= set(HISTORY_FIELDS):
            raise damaged(self.history_path, f"columns {', '.join(columns) or 'none'}, not {', '.join(HISTORY_FIELDS)}")
        try:
            return [
                {key: value if key == "phase" else float(value) for key, value in row.items() if value} for row in rows
            ]
        except (TypeError, ValueError) as error:  # another file's columns, or a line cut short
            raise damaged(self.history_path, str(error)) from None

    def best_val_accuracy(self) -> float | None:
        """Best val_accuracy already checkpointed, so a resumed run never overwrites it with worse."""
        if not self.best_weights_path.exists():
            return None
        scores = [row["val_accuracy"] for row in self.history() if row["phase"] != "qat" and "val_accuracy" in row]
        return max(scores) if scores else None

    # --- results -------------------------------------------------------------------------------

    def write_metrics(self, model: str, results: dict[str, Any]) -> None:
        write_text_atomically(self.metrics_path(model), json.dumps(results, indent=2) + "\n")

    def metrics(self, model: str) -> dict[str, Any] | None:
        """``metrics_float.json`` or ``metrics_qat.json``, None until that model is evaluated."""
        path = self.metrics_path(model)
        return _read_json(path) if path.exists() else None


CONFIG_FIELDS = {"train": dict, "manifest": str, "class_names": list, "input": dict}
"""config.json's fields and their JSON types (class_names and input are written once the model is known)."""


def checked_config(path: Path, config: Any, required: tuple[str, ...]) -> dict[str, Any]:
    """``config`` when it has the ``required`` fields and every field it has is of its type."""
    found = config if isinstance(config, dict) else {}
    wrong = [
        key
        for key, kind in CONFIG_FIELDS.items()
        if (key in required or key in found) and not isinstance(found.get(key), kind)
    ]
    if wrong:
        raise damaged(path, f"no valid {', '.join(wrong)}")
    return found


def damaged(path: Path, problem: str) -> BrainEdgeError:
    """One run file that cannot be read as written: the run cannot be trusted to resume or export."""
    return BrainEdgeError(f"{path}: damaged ({problem}); start a new run with another --out")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(_read_text(path))
    except (json.JSONDecodeError, RecursionError) as error:
        raise damaged(path, str(error)) from None


def _read_text(path: Path, errors: str = "strict") -> str:
    """A run file's text; one that cannot be read (a folder in its place, denied, an I/O error) is damaged."""
    try:
        return path.read_text(encoding="utf-8", errors=errors)
    except UnicodeDecodeError as error:
        raise damaged(path, str(error)) from None
    except OSError as error:
        raise damaged(path, f"cannot read it: {error.strerror or error}") from None
