"""brainedge-train on a tiny MobileNetV2 and generated slices: a killed run under MirroredStrategy
resumes from its checkpointed epoch and finishes with every output; QAT trains; bad input is
one clear error line.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from train_data import LEAKED, TINY, make_training_data

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import LOCK_NAME
from brainedge.edge_runtime.manifest import Manifest, read_manifest, write_manifest
from brainedge.train import cli

pytestmark = [pytest.mark.slow, pytest.mark.tensorflow]

ROOT = Path(__file__).resolve().parents[1]
FINETUNE_EPOCHS = 3
KILL_WAIT_S = 420


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_training_data(tmp_path_factory.mktemp("train"))


def train_command(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "brainedge.train",
        "--manifest",
        str(data / "manifest.csv"),
        "--out",
        str(out),
        "--weights",
        str(data / "backbone.h5"),
        *TINY,
        *extra,
    ]


def history(run: Path) -> list[tuple[str, int]]:
    path = run / "history.csv"
    if not path.exists():
        return []
    with path.open() as stream:
        return [(row["phase"], int(row["epoch"])) for row in csv.DictReader(stream)]


def tensorboard_scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the run's TensorBoard event files, as ``train/epoch_loss``: [(step, value)], by step."""
    from brainedge.train.tf_setup import tf

    found: dict[str, list[tuple[int, float]]] = {}
    for path in sorted((run / "tensorboard").rglob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                found.setdefault(f"{path.parent.name}/{value.tag}", []).append((event.step, value.simple_value))
    return {key: sorted(values) for key, values in found.items()}


def history_as_scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    """history.csv's losses and accuracies as the events should hold them: float32, step = the row."""
    with (run / "history.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    return {
        f"{folder}/epoch_{name}": [(step, float(np.float32(row[prefix + name]))) for step, row in enumerate(rows, 1)]
        for folder, prefix in (("train", ""), ("validation", "val_"))
        for name in ("loss", "accuracy")
    }


def check_events_match_history(run: Path) -> None:
    """TensorBoard's events hold each epoch of history.csv once, with its values: none missing, none twice."""
    expected, events = history_as_scalars(run), tensorboard_scalars(run)
    assert events == expected
    loss = expected["train/epoch_loss"]
    assert len(loss) == len(history(run)) >= 2
    # The comparison tells a value one float32 step off, and an epoch written twice (a resume redoing it), apart.
    step, value = loss[-1]
    assert events != {
        **expected,
        "train/epoch_loss": [*loss[:-1], (step, float(np.nextafter(np.float32(value), np.float32(1))))],
    }
    assert events != {**expected, "train/epoch_loss": [*loss, loss[-1]]}


def start_and_kill_after_first_finetune_epoch(command: list[str], run: Path, log: Path) -> None:
    """SIGKILL (no cleanup) as soon as history.csv shows a finished fine-tuning epoch."""
    with log.open("w") as stream:
        process = subprocess.Popen(command, cwd=ROOT, stdout=stream, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + KILL_WAIT_S
    try:
        while not any(phase == "finetune" for phase, _ in history(run)):
            assert process.poll() is None, f"run ended before it could be killed:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "no fine-tuning epoch finished in time"
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()


def test_killed_mirrored_run_resumes_from_its_checkpointed_epoch(data, tmp_path):
    run = tmp_path / "run"
    command = train_command(
        data,
        run,
        "--head-epochs",
        "1",
        "--finetune-epochs",
        str(FINETUNE_EPOCHS),
        "--qat-epochs",
        "1",
        "--cpu-replicas",
        "2",
        "--weight-decay",  # the optimizer's extra state (moving averages) must survive the kill too
        "0.1",
        "--ema",
        "0.9",
    )
    start_and_kill_after_first_finetune_epoch(command, run, tmp_path / "killed.log")
    done = history(run)
    finished = sum(phase == "finetune" for phase, _ in done)
    assert done[0] == ("head", 1) and finished < FINETUNE_EPOCHS
    assert (run / "backup" / "finetune").is_dir(), "BackupAndRestore's backup did not survive the kill"

    resumed = subprocess.run(command + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "ignored" not in resumed.stderr, "the run's own options, typed again, were called ignored"
    lines = resumed.stdout.splitlines()
    assert "[head] already finished, skipping (resume)" in lines
    epochs = [line.split()[2] for line in lines if line.startswith("[finetune] epoch")]
    assert epochs == [f"{k}/{FINETUNE_EPOCHS}" for k in range(finished + 1, FINETUNE_EPOCHS + 1)]
    assert all(", ETA " in line for line in lines if " epoch " in line)
    test_images = len(read_manifest(data / "manifest.csv").split("test"))
    assert any(
        line.startswith("[float] test: accuracy ")
        and line.endswith(
            f"on {test_images - LEAKED} leak-free test images ({LEAKED} near-duplicates of training "
            "images left out) (95% intervals)"
        )
        for line in lines
    ), resumed.stdout
    assert any(
        line.startswith("[float] test_with_leaked: ")
        and f"all {test_images} test images incl. {LEAKED} near-duplicates" in line
        for line in lines
    )
    assert history(run) == [("head", 1)] + [("finetune", k) for k in range(1, FINETUNE_EPOCHS + 1)] + [("qat", 1)]
    check_events_match_history(run)  # the killed process's events and the resumed one's, float phases and QAT

    config = json.loads((run / "config.json").read_text())
    assert (config["strategy"], config["replicas"]) == ("MirroredStrategy", 2)
    assert config["class_names"] == ["glioma", "meningioma", "notumor", "pituitary"]
    assert {"tensorflow", "tf_keras", "tfmot"} <= set(config["versions"])
    for name in (
        "model.keras",
        "qat_model.keras",
        "checkpoints/best.h5",
        "plots/curves.png",
        "plots/confusion_float.png",
        "plots/roc_float.png",
        "plots/roc_qat.png",
    ):
        assert (run / name).stat().st_size > 0, name
    assert not (run / "backup" / "finetune").exists()
    check_metrics(run / "metrics_float.json", read_manifest(data / "manifest.csv"))
    check_metrics(run / "metrics_qat.json", read_manifest(data / "manifest.csv"))
    (tmp_path / "resumed.log").write_text(resumed.stdout)
    check_training_record(run, tmp_path / "resumed.log")


def check_training_record(run: Path, log: Path) -> None:
    """benchmarks.studies.train_report turns the finished run into the issue-4 record, targets judged."""
    from brainedge.benchmarks.studies import train_report

    out = log.parent / "train_record"
    assert train_report.main([str(run), "--log", str(log), "--command", "pytest", "--out", str(out)]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    test = json.loads((run / "metrics_float.json").read_text())["test"]
    assert [(c["measured"], c["met"]) for c in record["acceptance"]] == [
        (round(test["accuracy"], 4), test["accuracy"] >= 0.98),
        (round(test["macro_f1"], 4), test["macro_f1"] >= 0.98),
    ]
    finetune = [row for row in record["history"] if row["phase"] == "finetune"]
    assert [row["epoch"] for row in finetune] == list(range(1, FINETUNE_EPOCHS + 1))
    assert all(row["images_per_s"] > 0 and row["seconds"] > 0 for row in record["history"])
    assert record["process"]["wall_s"] is None and set(record["metrics"]) == {"float", "qat"}
    assert "## Acceptance (issue 4)" in out.with_suffix(".md").read_text()


def check_metrics(path: Path, manifest: Manifest) -> None:
    """Validation on all its images; test on the leak-free ones, the all-images figure beside it; intervals."""
    metrics = json.loads(path.read_text())
    assert list(metrics) == ["val", "test", "test_with_leaked"]
    counts = {
        "val": len(manifest.split("val")),
        "test": len(manifest.files("test", include_leaked=False)),
        "test_with_leaked": len(manifest.split("test")),
    }
    assert metrics["test"]["leaked_left_out"] == metrics["test_with_leaked"]["leaked_included"] == LEAKED
    for key, report in metrics.items():
        count = counts[key]
        assert report["count"] == count and 0 <= report["accuracy"] <= 1 and 0 <= report["macro_f1"] <= 1
        matrix = np.array(report["confusion_matrix"])
        assert matrix.shape == (4, 4) and matrix.sum() == count
        assert np.isclose(report["accuracy"], np.trace(matrix) / count)
        intervals = report["intervals"]
        assert intervals["accuracy"][0] <= report["accuracy"] <= intervals["accuracy"][1]
        assert 0 <= intervals["macro_f1"][0] <= intervals["macro_f1"][1] <= 1  # a bootstrap need not hold the point
        for name, scores in report["per_class"].items():
            assert {"precision", "recall", "f1", "support", "roc_auc"} <= set(scores)
            low, high = intervals["recall"][name]
            assert low <= scores["recall"] <= high


def test_qat_model_builds_from_a_trained_float_model_calibrates_and_trains_a_step():
    from brainedge.train.config import ModelConfig
    from brainedge.train.model import build_model, set_trainable_blocks
    from brainedge.train.qat import calibrate_ranges, quantize_for_training
    from brainedge.train.tf_setup import keras

    keras.utils.set_random_seed(0)
    images = np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32)
    labels = np.eye(2, dtype=np.float32)[[0, 1] * 4]
    model = build_model(ModelConfig(num_classes=2, input_size=32, alpha=0.35, weights="none"))
    set_trainable_blocks(model, "all", train_batch_norm=False)  # the recipe's default
    model.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy")
    model.train_on_batch(images, labels)

    qat = quantize_for_training(model)
    assert any("quant" in layer.__class__.__name__.lower() for layer in qat.layers)
    stem_max = next(w for w in qat.weights if w.name.endswith("quant_Conv1_relu/output_max:0"))
    assert float(stem_max.numpy()) == 6.0  # tfmot's start, moved 0.1% a training step
    stem = keras.Model(model.input, model.get_layer("Conv1_relu").output)
    expected = np.mean([stem(batch).numpy().max() for batch in (images, images / 2)])
    assert calibrate_ranges(qat, [images, images / 2]) == 2
    assert np.isclose(float(stem_max.numpy()), expected, rtol=0.05)  # the mean of the batch maxima
    # Depthwise kernels are quantized per channel, as int8 TFLite stores them (tfmot's default: one range).
    depthwise = qat.get_layer("quant_block_1_depthwise")
    kernel_max = next(w for w in depthwise.weights if w.name.endswith("depthwise_kernel_max:0")).numpy()
    kernel = next(w for w in depthwise.weights if w.name.endswith("/depthwise_kernel:0")).numpy()
    assert kernel_max.shape == (kernel.shape[2],)
    assert np.allclose(kernel_max, np.abs(kernel).max(axis=(0, 1, 3)))
    qat.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy")
    before = [w.numpy().copy() for w in qat.trainable_weights]
    loss = qat.train_on_batch(images, labels)
    assert np.isfinite(loss)
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(before, qat.trainable_weights))
    assert qat.predict(images, verbose=0).shape == (8, 2)


def fails_with(capsys, argv: list[str], *expected: str) -> str:
    """brainedge-train exits non-zero with one 'error:' line naming the problem, no traceback."""
    assert cli.main(argv) != 0
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, captured.err
    assert "Traceback" not in captured.err + captured.out
    for text in expected:
        assert text in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def out(tmp_path) -> list[str]:
    return ["--out", str(tmp_path / "run"), "--head-epochs", "1", "--finetune-epochs", "1", "--qat-epochs", "0"]


def test_unreadable_weights_file(data, tmp_path, capsys, out):
    weights = tmp_path / "broken.h5"
    weights.write_bytes(b"not an HDF5 file" * 8)
    fails_with(
        capsys,
        ["--manifest", str(data / "manifest.csv"), "--weights", str(weights), *TINY, *out],
        str(weights),
        "cannot load weights",
    )
    assert not (tmp_path / "run" / "config.json").exists(), "a run that never started blocks a corrected rerun"


def test_missing_weights_file(data, tmp_path, capsys, out):
    weights = tmp_path / "nowhere.h5"
    fails_with(
        capsys,
        ["--manifest", str(data / "manifest.csv"), "--weights", str(weights), *TINY, *out],
        str(weights),
        "not found",
    )


def test_weights_of_another_architecture(data, tmp_path, capsys, out):
    from brainedge.train.tf_setup import keras

    weights = tmp_path / "other.h5"
    other = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, name="not_mobilenet")])
    other.save_weights(weights)
    fails_with(
        capsys,
        ["--manifest", str(data / "manifest.csv"), "--weights", str(weights), *TINY, *out],
        str(weights),
        "do not fit MobileNetV2",
    )


def test_imagenet_download_offline_says_how_to_provide_weights(data, capsys, out, monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-cache"))  # no cached download
    for variable in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")  # a closed port: offline, deterministically
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    fails_with(
        capsys,
        ["--manifest", str(data / "manifest.csv"), "--weights", "imagenet", *TINY, *out],
        "cannot download the ImageNet MobileNetV2 weights",
        "--weights PATH",
        "--weights none",
    )


def test_empty_split(data, tmp_path, capsys, out):
    manifest = read_manifest(data / "manifest.csv")
    no_val = tmp_path / "no_val.csv"
    rows = [row for row in manifest.rows if row.split != "val"]
    write_manifest(no_val, Manifest(root=manifest.root, rows=rows))
    fails_with(capsys, ["--manifest", str(no_val), "--weights", "none", *TINY, *out], str(no_val), "val split is empty")
    first_class = manifest.class_names()[0]
    rows = [row for row in manifest.rows if not (row.split == "val" and row.label == first_class)]
    write_manifest(no_val, Manifest(root=manifest.root, rows=rows))  # an edited manifest: one class unscored
    fails_with(
        capsys,
        ["--manifest", str(no_val), "--weights", "none", *TINY, *out],
        f"the val split has no images of {first_class}; that class would go unscored",
    )


def test_class_count_that_differs_on_resume(data, tmp_path, capsys, out):
    from dataclasses import replace

    from brainedge.train.config import ModelConfig, TrainConfig

    manifest_path = tmp_path / "manifest.csv"
    manifest = read_manifest(data / "manifest.csv")
    write_manifest(manifest_path, manifest)
    run = tmp_path / "run"
    run.mkdir()
    config = TrainConfig(model=ModelConfig(num_classes=4, input_size=32, alpha=0.35, weights="none"))
    (run / "config.json").write_text(
        json.dumps({"train": config.to_dict(), "class_names": manifest.class_names(), "manifest": str(manifest_path)})
    )
    binary = [replace(row, label="tumor" if row.label != "notumor" else "notumor") for row in manifest.rows]
    write_manifest(manifest_path, Manifest(root=manifest.root, rows=binary))  # re-split, 2 classes now
    fails_with(
        capsys,
        ["--resume", *out],
        "['glioma', 'meningioma', 'notumor', 'pituitary']",
        "['notumor', 'tumor']",
        "use a new --out",
    )


def test_nothing_to_resume_and_no_overwrite(data, tmp_path, capsys, out):
    fails_with(capsys, ["--resume", *out], "nothing to resume")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    fails_with(capsys, ["--manifest", str(data / "manifest.csv"), *out], "already holds a run")


def test_a_phase_of_no_epochs_is_skipped(data, tmp_path):
    """--head-epochs 0 (allowed: fine-tuning still trains) skips the head phase; Keras would refuse epochs=0."""
    run = tmp_path / "run"
    command = train_command(data, run, "--head-epochs", "0", "--finetune-epochs", "1", "--qat-epochs", "0")
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert history(run) == [("finetune", 1)] and "[head]" not in done.stdout
    assert (run / "model.keras").exists()


def test_training_batches_stay_float32_under_mixed_precision(data):
    """On a GPU the global policy is mixed_float16; augmentation must not turn the inputs into float16."""
    from brainedge.edge_runtime.metadata import InputSpec
    from brainedge.train.pipeline import make_dataset
    from brainedge.train.tf_setup import keras

    files = read_manifest(data / "manifest.csv").files("train")[:8]
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        dataset = make_dataset(files, InputSpec(height=32, width=32), 4, batch_size=4, training=True)
        images, labels = next(iter(dataset))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert images.dtype.name == "float32" and images.shape == (4, 32, 32, 3)
    assert labels.shape == (4, 4)


def test_an_image_unreadable_after_the_split_stops_training_with_one_line(data, tmp_path, capsys, out):
    manifest = read_manifest(data / "manifest.csv")
    images = tmp_path / "images"
    shutil.copytree(data / "images", images)
    manifest_path = tmp_path / "manifest.csv"
    write_manifest(manifest_path, Manifest(root=str(images), rows=manifest.rows))
    victim = images / manifest.split("train")[0].path
    victim.write_bytes(b"\xff\xd8 this JPEG was truncated by a full disk")
    fails_with(
        capsys,
        ["--manifest", str(manifest_path), "--weights", "none", *TINY, *out],
        str(victim),
        "training stopped",
        "--resume",
    )


@pytest.mark.parametrize(
    "option, value, expected",
    [
        ("--batch-size", "0", "--batch-size must be from 1 to 4096"),
        ("--head-epochs", "-1", "--head-epochs must be 0 or more"),
        ("--finetune-lr", "0", "--finetune-lr must be a positive number"),
        ("--label-smoothing", "1.5", "--label-smoothing must be in [0, 1)"),
        ("--mixup", "-0.2", "--mixup must be 0 or more"),
        ("--mixup", "nan", "--mixup must be 0 or more"),
        ("--weight-decay", "-0.1", "--weight-decay must be 0 or more"),
        ("--weight-decay", "1e308", "times --head-lr 0.001 is 1e+305: at 1 or more every step flips"),
        ("--head-lr", "1e9", "--head-lr 1e+09 is 1 or more: Adam's steps are about that size"),
        ("--ema", "1", "--ema must be in [0, 1)"),
        ("--seed", "-1", "--seed must be between 0 and 2**32 - 1"),
        ("--dropout", "1", "--dropout must be in [0, 1)"),
        ("--input-size", "8", "--input-size must be from 32 to 1024 pixels"),
        ("--finetune-blocks", "99", "--finetune-blocks must be 'all' or a number from 0 to 16"),
        ("--weights", " ", "--weights is empty"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(data, tmp_path, capsys, out, option, value, expected):
    fails_with(
        capsys, ["--manifest", str(data / "manifest.csv"), "--weights", "none", *TINY, *out, option, value], expected
    )
    assert not (tmp_path / "run").exists(), "a refused run left a folder behind"


def test_a_second_trainer_on_the_same_out_is_refused_and_a_stale_lock_is_taken_over(data, tmp_path, capsys, out):
    from brainedge.train.run_dir import RunDirectory

    run = RunDirectory(tmp_path / "run")
    with run.locked():
        error = fails_with(
            capsys,
            ["--manifest", str(data / "manifest.csv"), "--weights", "none", *TINY, *out],
            "in use by brainedge-train",
            f"pid {os.getpid()}",
        )
        assert error.startswith(f"error: {run.path}: in use")
    assert not run.path.exists(), "the lock's folder was left behind although no run started"
    run.path.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    run.lock_path.write_text(f"{socket.gethostname()} {dead.stdout.strip()}\n")  # a killed trainer's lock
    with run.locked():
        assert f"(pid {os.getpid()} on {socket.gethostname()}" in run.lock_path.read_text()
    assert not run.lock_path.exists()


def stop_after_an_epoch_of(
    phase: str, command: list[str], run: Path, stop: signal.Signals = signal.SIGINT
) -> tuple[int, str]:
    """Start training and send ``stop`` (Ctrl-C by default) as soon as history.csv shows a finished epoch of ``phase``:
    the trainer's exit code and standard error."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + KILL_WAIT_S
    while not any(finished == phase for finished, _ in history(run)):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"no {phase} epoch finished in time"
        time.sleep(0.05)
    process.send_signal(stop)
    _, err = process.communicate(timeout=300)
    return process.returncode, err


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_training_in_one_line_and_resume_finishes_the_run(data, tmp_path, stop):
    """SIGTERM (a scheduler's or systemd's stop) ends training as Ctrl-C does: lock released, exit 130."""
    run = tmp_path / "run"
    command = train_command(data, run, "--head-epochs", "1", "--finetune-epochs", "2", "--qat-epochs", "0")
    code, err = stop_after_an_epoch_of("head", command, run, stop)
    assert code == 130 and err.strip().splitlines()[-1] == "interrupted", err[-3000:]
    assert "Traceback" not in err
    assert not (run / LOCK_NAME).exists(), "an interrupted trainer kept its lock"
    resumed = subprocess.run(
        command + ["--resume", "--seed", "5"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "warning: ignored --seed 5: a resumed run keeps its saved settings" in resumed.stderr
    assert history(run) == [("head", 1), ("finetune", 1), ("finetune", 2)]


def test_ctrl_c_after_the_qat_epoch_resumes_training_the_same_weights(data, tmp_path):
    """Stopped while QAT's finished epoch is scored: the resumed run (its phases skipped, its model
    rebuilt) must quantize-train the same weights as before, or the epoch's backup cannot be restored."""
    run = tmp_path / "run"
    command = train_command(data, run, "--head-epochs", "1", "--finetune-epochs", "1", "--qat-epochs", "1")
    code, err = stop_after_an_epoch_of("qat", command, run)
    assert code == 130, err[-3000:]
    resumed = subprocess.run(command + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert history(run) == [("head", 1), ("finetune", 1), ("qat", 1)]
    assert (run / "metrics_qat.json").exists()
    check_events_match_history(run)  # QAT's epoch, scored before the stop, is not written again by the resume


def test_a_backup_cut_short_is_named_before_keras_reads_it(tmp_path):
    from brainedge.train.tf_setup import tf
    from brainedge.train.trainer import check_backup_readable

    folder = tmp_path / "backup" / "qat"
    tf.train.Checkpoint(weights=tf.Variable(tf.ones([256, 256]))).save(str(folder / "chief" / "ckpt"))
    check_backup_readable(folder)
    check_backup_readable(tmp_path / "no backup yet")
    data = next((folder / "chief").glob("ckpt-1.data-*"))
    data.write_bytes(data.read_bytes()[:1000])  # a full disk or a copy stopped midway
    with pytest.raises(BrainEdgeError, match=r"ckpt-1: damaged .*; delete .*backup/qat to redo that phase"):
        check_backup_readable(folder)


@pytest.mark.parametrize(("keep_last", "finetune_epochs_run"), [(False, 2), (True, 3)])
def test_keep_last_epoch_runs_every_epoch_where_early_stopping_would_end(
    data, tmp_path, keep_last, finetune_epochs_run
):
    """A learning rate too small to change any answer keeps val accuracy flat: with --patience 1 early
    stopping ends fine-tuning after its second epoch, --keep-last-epoch runs all three."""
    run = tmp_path / "run"
    options = ["--head-epochs", "1", "--finetune-epochs", "3", "--finetune-lr", "1e-12", "--patience", "1"]
    command = train_command(data, run, *options, "--qat-epochs", "0", *(["--keep-last-epoch"] if keep_last else []))
    trained = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert [epoch for phase, epoch in history(run) if phase == "finetune"] == list(range(1, finetune_epochs_run + 1))
    assert json.loads((run / "config.json").read_text())["train"]["keep_last_epoch"] is keep_last


def test_kept_weights_are_the_best_by_val_accuracy_or_every_epochs_last(tmp_path):
    from brainedge.train.tf_setup import keras
    from brainedge.train.trainer import BestWeights

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    saved = tmp_path / "best.h5"

    def kept_after(scores: list[float], every_epoch: bool) -> float:
        """The bias saved after epochs whose bias is the epoch's number."""
        callback = BestWeights(saved, best=None, every_epoch=every_epoch)
        callback.set_model(model)
        for epoch, score in enumerate(scores):
            model.layers[0].bias.assign([float(epoch)])
            callback.on_epoch_end(epoch, {"val_accuracy": score})
        model.load_weights(saved)
        return float(model.layers[0].bias.numpy()[0])

    assert kept_after([0.5, 0.9, 0.7], every_epoch=False) == 1.0
    assert kept_after([0.5, 0.9, 0.7], every_epoch=True) == 2.0


def test_refit_trains_on_train_and_val_and_export_says_its_val_figures_are_optimistic(data, tmp_path):
    run = tmp_path / "run"
    command = train_command(data, run, "--head-epochs", "1", "--finetune-epochs", "2", "--qat-epochs", "0", "--refit")
    trained = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert trained.returncode == 0, trained.stderr[-3000:]
    manifest = read_manifest(data / "manifest.csv")
    with (run / "history.csv").open() as stream:
        epochs = list(csv.DictReader(stream))
    assert [(row["phase"], row["epoch"]) for row in epochs] == [("head", "1"), ("finetune", "1"), ("finetune", "2")]
    for row in epochs:  # nothing held out to validate on; every epoch saw the train and val images
        assert row["val_accuracy"] == "" and row["val_loss"] == ""
        seen = float(row["images_per_s"]) * float(row["seconds"])
        assert seen == pytest.approx(len(manifest.split("train")) + len(manifest.split("val")), rel=0.02)
    metrics = json.loads((run / "metrics_float.json").read_text())
    assert "val" not in metrics and "test" in metrics
    exported = subprocess.run(
        [sys.executable, "-m", "brainedge.export", str(run), "--variants", "tflite_float32"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert "was trained on its validation images (--refit)" in exported.stderr
    metadata = json.loads((run / "export" / "tflite_float32" / "metadata.json").read_text())
    assert metadata["calibration"]["fit"]["val_held_out"] is False  # the bundle itself says so
    assert metadata["out_of_distribution"]["fit"]["val_held_out"] is False
