"""The fine-tuning recipe: head first, then the top of the backbone, then quantization-aware.

Everything a run produces lands in one run directory, and a killed run resumes from it:
finished phases are skipped and an interrupted phase restarts at its last finished epoch
(Keras' BackupAndRestore).
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from brainedge.edge_runtime.errors import BrainEdgeError, stops_received
from brainedge.edge_runtime.manifest import class_weights, read_manifest
from brainedge.edge_runtime.metadata import InputSpec
from brainedge.train.config import Phase, TrainConfig, phases, qat_phase
from brainedge.train.model import build_model, set_trainable_blocks
from brainedge.train.pipeline import make_dataset, unreadable_images_stop_training
from brainedge.train.run_dir import RunDirectory, damaged
from brainedge.train.scoring import SplitProbabilities, split_reports, summary_line
from brainedge.train.tf_setup import keras, tf

QAT_CALIBRATION_BATCHES = 8


def make_optimizer(config: TrainConfig, rate: Any, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """Adam, AdamW with --weight-decay, and with --ema the weights' moving average written into the
    model after each epoch's last step: validation, early stopping and the best checkpoint judge the
    averaged weights, which are also the ones the next epoch starts from."""
    averaging: dict[str, Any] = {}
    if config.ema:
        averaging = {"use_ema": True, "ema_momentum": config.ema, "ema_overwrite_frequency": steps_per_epoch}
    if not config.weight_decay:
        return keras.optimizers.Adam(rate, **averaging)
    optimizer = keras.optimizers.AdamW(rate, weight_decay=config.weight_decay, **averaging)
    optimizer.exclude_from_weight_decay(var_names=["bias", "beta", "gamma"])
    return optimizer


def choose_strategy(cpu_replicas: int) -> tf.distribute.Strategy:
    """MirroredStrategy over this machine's GPUs (or logical CPUs), multi-worker under TF_CONFIG."""
    if cpu_replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:  # must happen before TensorFlow starts its runtime (list_logical_devices starts it)
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(cpu_replicas)]
            )
        except RuntimeError:
            if len(tf.config.list_logical_devices("CPU")) < cpu_replicas:
                raise BrainEdgeError(
                    f"--cpu-replicas {cpu_replicas}: TensorFlow already started with "
                    "fewer CPU devices; run it in a fresh process"
                ) from None
        return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(cpu_replicas)])
    if "TF_CONFIG" in os.environ:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def use_mixed_precision(setting: str) -> bool:
    if setting not in ("auto", "on", "off"):
        raise BrainEdgeError(f"--mixed-precision must be auto, on or off, not {setting!r}")
    enabled = setting == "on" or (setting == "auto" and bool(tf.config.list_physical_devices("GPU")))
    keras.mixed_precision.set_global_policy("mixed_float16" if enabled else "float32")
    return enabled


class EpochEvents:
    """TensorBoard's copy of history.csv's scores: ``epoch_loss`` and ``epoch_accuracy`` in the run's
    ``tensorboard/train`` and ``tensorboard/validation`` (the folders and tags Keras' TensorBoard callback
    uses), at step = the epoch's row in history.csv, so head, fine-tuning and QAT make one curve.

    Written with TensorFlow's own event writer (no tensorboard package needed); each process appends
    a file of its own, which TensorBoard reads together with a killed run's.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.writers: dict[str, Any] = {}

    def write(self, step: int, scores: dict[str, float]) -> None:
        for run, prefix in EVENT_RUNS.items():
            values = {name: scores[prefix + name] for name in EVENT_SCALARS if prefix + name in scores}
            if not values:
                continue
            if run not in self.writers:
                self.writers[run] = tf.summary.create_file_writer(str(self.folder / run))
            with self.writers[run].as_default():
                for name, value in values.items():
                    tf.summary.experimental.write_raw_pb(scalar_summary(f"epoch_{name}", value), step=step)
            self.writers[run].flush()

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()


def scalar_summary(tag: str, value: float) -> bytes:
    """A Summary proto of one scalar in its TF1 form (``simple_value``), which TensorBoard reads as a scalar:
    ``tf.summary.scalar`` itself needs the tensorboard package."""
    return tf.compat.v1.Summary(value=[tf.compat.v1.Summary.Value(tag=tag, simple_value=value)]).SerializeToString()


EVENT_SCALARS = ("loss", "accuracy")
EVENT_RUNS = {"train": "", "validation": "val_"}
"""TensorBoard run folder and the prefix of its scores in Keras' logs (and history.csv's columns)."""


class EpochLogger(keras.callbacks.Callback):
    """Each epoch, as it ends: its scores in the run's TensorBoard events, then a row in its history.csv
    (with its timing) and one progress line with the ETA (readable in CI logs too). A killed run keeps
    its finished epochs; one in history.csv is in the events too."""

    def __init__(self, run: RunDirectory, phase: Phase, images: int) -> None:
        super().__init__()
        self.run, self.phase, self.images = run, phase, images
        self.events = EpochEvents(run.tensorboard_dir)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_started = time.monotonic()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.events.close()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        scores = {k: float(v) for k, v in (logs or {}).items() if k != "lr"}
        took = time.monotonic() - self.epoch_started
        self.events.write(len(self.run.history()) + 1, scores)
        self.run.append_history(
            {
                "phase": self.phase.name,
                "epoch": epoch + 1,
                **scores,
                "seconds": round(took, 2),
                "images_per_s": round(self.images / took, 1),
            }
        )
        left = self.phase.epochs - epoch - 1
        shown = " ".join(f"{k}={v:.4f}" for k, v in scores.items())
        print(
            f"[{self.phase.name}] epoch {epoch + 1}/{self.phase.epochs} {shown} "
            f"{self.images / took:.0f} img/s, ETA {left * took:.0f}s",
            flush=True,
        )


def check_backup_readable(folder: Path) -> None:
    """A phase resumes from its backup; one cut short (a full disk, a copy stopped midway) would fail
    deep inside Keras, so every tensor of its latest checkpoint is read first."""
    for index in folder.rglob("checkpoint"):
        latest = tf.train.latest_checkpoint(str(index.parent))
        if latest is None:
            continue
        try:
            reader = tf.train.load_checkpoint(latest)
            for name in reader.get_variable_to_shape_map():
                reader.get_tensor(name)
        except (OSError, IndexError, ValueError, tf.errors.OpError) as error:
            problem = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise BrainEdgeError(
                f"{latest}: damaged ({problem}); delete {folder} to redo that phase from its start"
            ) from None


class Trainer:
    """Runs the recipe for one manifest into one run directory."""

    def __init__(self, manifest_path: Path, run_dir: Path, config: TrainConfig) -> None:
        self.manifest_path, self.config = manifest_path, config
        self.run_directory = RunDirectory(run_dir)
        self.manifest = read_manifest(manifest_path)
        manifest = self.manifest
        self.class_names = manifest.class_names()
        config.model = dataclasses.replace(config.model, num_classes=len(self.class_names))
        self.spec = InputSpec(
            height=config.model.input_size,
            width=config.model.input_size,
            mean=(config.pixel_mean,) * 3,
            std=(config.pixel_std,) * 3,
        )
        # Leaked test images too: the test report leaves them out itself and puts the all-images figure beside it.
        self.splits = {name: manifest.files(name, include_leaked=True) for name in ("train", "val", "test")}
        for name in ("train", "val"):
            if not self.splits[name]:
                raise BrainEdgeError(f"{manifest_path}: the {name} split is empty")
            if missing := sorted(set(self.class_names) - {row.label for row in manifest.split(name)}):
                consequence = "untrained" if name == "train" else "unscored, and calibration fitted without it"
                raise BrainEdgeError(
                    f"{manifest_path}: the {name} split has no images of {', '.join(missing)}; that class would go "
                    f"{consequence} (brainedge-data split keeps every class in every split)"
                )
        if config.refit:  # nothing held out but the test split
            self.splits = {
                "train": [image for split in config.training_splits for image in manifest.files(split)],
                "val": [],
                "test": self.splits["test"],
            }
        self.strategy = choose_strategy(config.cpu_replicas)  # first: logical CPUs precede TF's start
        keras.utils.set_random_seed(config.seed)
        self.mixed_precision = use_mixed_precision(config.mixed_precision)
        self.global_batch = config.batch_size * self.strategy.num_replicas_in_sync
        self.stops_at_start = stops_received()

    # -- the story ---------------------------------------------------------------------
    def run(self) -> keras.Model:
        with unreadable_images_stop_training():
            return self._run()

    def _run(self) -> keras.Model:
        self._check_same_classes()
        model = self._float_model()  # before config.json: a run that cannot start leaves no run behind
        self._write_config()
        for phase in phases(self.config):
            if self._skip_completed(phase.name) or not phase.epochs:  # --head-epochs 0: Keras refuses epochs=0
                continue
            self._restore_best(model)
            self._fit(model, phase)
        self._restore_best(model)
        model = self._in_float32(model)
        save_atomically(model, self.run_directory.float_model_path)
        self._evaluate(model, "float")
        if self.config.qat_epochs > 0 and not self._skip_completed("qat"):
            self._quantization_aware(model)
        return model

    def _skip_completed(self, phase: str) -> bool:
        if phase not in self.run_directory.completed_phases():
            return False
        print(f"[{phase}] already finished, skipping (resume)", flush=True)
        return True

    # -- phases ------------------------------------------------------------------------
    def _float_model(self) -> keras.Model:
        resuming = self.run_directory.best_weights_path.exists()  # weights come from the checkpoint
        model_config = dataclasses.replace(self.config.model, weights="none") if resuming else self.config.model
        with self.strategy.scope():
            model = build_model(model_config)
            if self.config.model.weights == "none":
                for layer in model.layers:  # adapt moving statistics in tens, not thousands, of steps
                    if isinstance(layer, keras.layers.BatchNormalization):
                        layer.momentum = 0.9
        return model

    def _in_float32(self, model: keras.Model) -> keras.Model:
        """The saved model (export's input) and QAT run in float32, whatever precision trained it."""
        if not self.mixed_precision:
            return model
        keras.mixed_precision.set_global_policy("float32")
        with self.strategy.scope():
            float32 = build_model(dataclasses.replace(self.config.model, weights="none"))
        float32.set_weights(model.get_weights())
        return float32

    def _restore_best(self, model: keras.Model) -> None:
        """Each phase starts from the best weights so far (early stopping may end past them)."""
        best, completed = self.run_directory.best_weights_path, self.run_directory.completed_phases()
        if best.exists():
            try:
                model.load_weights(best)
            except (OSError, ValueError) as error:  # a truncated or foreign file
                raise damaged(best, str(error).splitlines()[0]) from None
        elif completed:
            raise BrainEdgeError(
                f"{self.run_directory.path}: phases {completed} finished but {best} is missing "
                "(damaged run, or one from an older version); use a new --out"
            )

    def _fit(self, model: keras.Model, phase: Phase) -> None:
        set_trainable_blocks(model, phase.blocks, train_batch_norm=phase.batch_norm)
        steps = self._steps_per_epoch()
        with self.strategy.scope():
            rate: Any = phase.learning_rate
            if phase.cosine:
                rate = keras.optimizers.schedules.CosineDecay(phase.learning_rate, steps * phase.epochs)
            optimizer = make_optimizer(self.config, rate, steps)
            model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
        trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
        print(
            f"[{phase.name}] {phase.epochs} epochs, {trainable:,} trainable parameters, "
            f"batch-norm {'training' if phase.batch_norm else 'frozen'}, {self.strategy.num_replicas_in_sync} "
            f"replica(s) x batch {self.config.batch_size}",
            flush=True,
        )
        model.fit(
            self._dataset("train", training=True),
            validation_data=self._validation(),
            epochs=phase.epochs,
            class_weight=self._class_weights(),
            verbose=0,
            callbacks=self._callbacks(phase),
        )
        self.run_directory.mark_completed(phase.name)

    def _callbacks(self, phase: Phase) -> list[keras.callbacks.Callback]:
        """Backup first: an epoch is in history.csv only once it is safely backed up."""
        return [
            *self._guards(phase),
            self._backup(phase.name),
            *self._weights_kept(),
            EpochLogger(self.run_directory, phase, len(self.splits["train"])),
        ]

    def _weights_kept(self) -> list[keras.callbacks.Callback]:
        """The phase's end weights: the last epoch's, or the best by val_accuracy with early stopping."""
        path = self.run_directory.best_weights_path
        if self.config.keeps_last_epoch:
            return [BestWeights(path, best=None, every_epoch=True)]
        return [
            BestWeights(path, self.run_directory.best_val_accuracy()),
            keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=self.config.patience),
        ]

    def _guards(self, phase: Phase) -> list[keras.callbacks.Callback]:
        return [StopWhenAsked(self.stops_at_start), StopOnDivergence(phase.name)]

    def _backup(self, phase: str) -> keras.callbacks.BackupAndRestore:
        """Kept after the phase ends and removed once state.json marks it done, so a kill between
        the two resumes with nothing lost."""
        folder = self.run_directory.backup_dir(phase)
        check_backup_readable(folder)
        return keras.callbacks.BackupAndRestore(str(folder), delete_checkpoint=False)

    def _quantization_aware(self, model: keras.Model) -> None:
        from brainedge.train.qat import calibrate_ranges, quantize_for_training

        print(f"[qat] quantization-aware fine-tuning, {self.config.qat_epochs} epoch(s)", flush=True)
        phase = qat_phase(self.config)
        # Set here, not inherited from the model's flags: a resumed run (its phases skipped) or a
        # float32 rebuild would otherwise train every layer, and a backup made while training the
        # other set of weights cannot be restored.
        set_trainable_blocks(model, phase.blocks, train_batch_norm=phase.batch_norm)
        with self.strategy.scope():
            qat_model = quantize_for_training(model)
        unaugmented = self._dataset("train").take(QAT_CALIBRATION_BATCHES)
        calibrate_ranges(qat_model, (images for images, _ in unaugmented), self.strategy)
        with self.strategy.scope():
            qat_model.compile(
                optimizer=make_optimizer(self.config, self.config.qat_learning_rate, self._steps_per_epoch()),
                loss="categorical_crossentropy",
                metrics=["accuracy"],
            )
        qat_model.fit(
            self._dataset("train", training=True),
            validation_data=self._validation(),
            epochs=phase.epochs,
            class_weight=self._class_weights(),
            verbose=0,
            callbacks=[
                *self._guards(phase),
                self._backup("qat"),
                EpochLogger(self.run_directory, phase, len(self.splits["train"])),
            ],
        )
        save_atomically(qat_model, self.run_directory.qat_model_path)
        self._evaluate(qat_model, "qat")
        self.run_directory.mark_completed("qat")

    # -- evaluation ----------------------------------------------------------------------
    def _evaluate(self, model: keras.Model, name: str) -> None:
        """metrics_NAME.json, one log line per report and the plots; the test figure leaves out the
        images the manifest flags as leaked, the all-images one beside it when there are any."""
        from brainedge.train.plots import plot_run

        answers, reports = {}, {}
        for split in ("val", "test"):
            if not self.splits[split]:
                continue
            answers[split] = SplitProbabilities(
                split,
                np.array([label for _, label in self.splits[split]]),
                model.predict(self._dataset(split), verbose=0, callbacks=[StopWhenAsked(self.stops_at_start)]),
                np.array([row.leaked for row in self.manifest.split(split)], bool),
            )
            for key, report in split_reports(answers[split], self.class_names).items():
                reports[key] = report
                print(summary_line(name, key, report), flush=True)
        plot_run(self.run_directory, name, reports, answers, self.class_names)
        self.run_directory.write_metrics(name, reports)

    # -- plumbing ------------------------------------------------------------------------
    def _dataset(self, split: str, training: bool = False) -> tf.data.Dataset:
        return make_dataset(
            self.splits[split],
            self.spec,
            len(self.class_names),
            self.global_batch,
            training=training,
            seed=self.config.seed,
            label_smoothing=self.config.label_smoothing,
            mixup=self.config.mixup,
        )

    def _validation(self) -> tf.data.Dataset | None:
        return self._dataset("val") if self.splits["val"] else None

    def _steps_per_epoch(self) -> int:
        return -(-len(self.splits["train"]) // self.global_batch)

    def _class_weights(self) -> dict[int, float] | None:
        return class_weights(self.manifest, *self.config.training_splits) if self.config.use_class_weights else None

    def _check_same_classes(self) -> None:
        if self.run_directory.has_config():
            previous = self.run_directory.read_config()
            if previous["class_names"] != self.class_names:
                raise BrainEdgeError(
                    f"{self.run_directory.config_path}: run was trained on classes "
                    f"{previous['class_names']}, the manifest now has {self.class_names}; "
                    "use a new --out"
                )

    def _write_config(self) -> None:
        self.run_directory.write_config(
            {
                "train": self.config.to_dict(),
                "class_names": self.class_names,
                "input": dataclasses.asdict(self.spec),
                "manifest": str(self.manifest_path.resolve()),
                "split_fingerprint": self.manifest.split_fingerprint(),
                "strategy": type(self.strategy).__name__,
                "replicas": self.strategy.num_replicas_in_sync,
                "mixed_precision": self.mixed_precision,
                "versions": versions(),
            }
        )


def save_atomically(model: keras.Model, path: Path) -> None:
    """Keras writes a .keras file in place; a kill mid-save must not leave a model that export would load."""
    partial = path.with_name(f".partial-{path.name}")
    model.save(partial)
    os.replace(partial, path)


class StopWhenAsked(keras.callbacks.Callback):
    """Ends training or prediction at the next batch after a Ctrl-C that TensorFlow swallowed (its input threads
    print the KeyboardInterrupt as "Exception ignored" and training goes on)."""

    def __init__(self, stops_before: int) -> None:
        super().__init__()
        self.stops_before = stops_before

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._stop_if_asked()

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._stop_if_asked()

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._stop_if_asked()

    def _stop_if_asked(self) -> None:
        if stops_received() > self.stops_before:
            raise KeyboardInterrupt


class StopOnDivergence(keras.callbacks.Callback):
    """A loss that became NaN or infinite trains nothing more: one line saying so, not an exit 0
    with a model whose every answer is the same."""

    def __init__(self, phase: str) -> None:
        super().__init__()
        self.phase = phase

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise BrainEdgeError(
                f"training diverged: the loss became {float(loss)} at {self.phase} epoch {self.epoch + 1}, "
                f"batch {batch + 1}; start a new --out with a lower learning rate or --weight-decay"
            )


class BestWeights(keras.callbacks.Callback):
    """Saves the weights whenever val_accuracy beats the best so far (``best``: from earlier phases
    or before a resume), or after every epoch with ``every_epoch``. Written to a temporary file and
    renamed: a kill never leaves half a file."""

    def __init__(self, path: Path, best: float | None, every_epoch: bool = False) -> None:
        super().__init__()
        self.path, self.best, self.every_epoch = path, best, every_epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.every_epoch:
            score = (logs or {}).get("val_accuracy")
            if score is None or (self.best is not None and score <= self.best):
                return
            self.best = float(score)
        partial = self.path.with_name(f"partial_{self.path.name}")
        self.model.save_weights(partial)
        os.replace(partial, self.path)


def versions() -> dict[str, str]:
    import tensorflow_model_optimization as tfmot

    return {
        "python": sys.version.split()[0],
        "tensorflow": tf.__version__,
        "tf_keras": keras.__version__,
        "tfmot": tfmot.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
    }
