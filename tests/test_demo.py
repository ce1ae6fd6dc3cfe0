"""The README's main job, end to end at toy scale: data → train → export → evaluate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from brainedge.edge_runtime.bundle import Bundle
from brainedge.edge_runtime.classifier import Classifier

pytestmark = [pytest.mark.slow, pytest.mark.tensorflow]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("demo") / "work"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "brainedge.export.demo",
            "--out",
            str(out),
            "--images-per-class",
            "24",
            "--epochs",
            "2",
            "--weights",
            "none",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return out, done


def test_demo_prints_one_table_for_float32_and_int8(demo_dir: tuple[Path, subprocess.CompletedProcess]) -> None:
    out, done = demo_dir
    assert done.returncode == 0, done.stderr[-2000:]
    table = done.stdout[done.stdout.index("held-out test split") :]
    for bundle in ("tflite_float32", "tflite_int8_ptq"):
        assert bundle in table
    rows = {row["bundle"]: row for row in json.loads((out / "demo_report.json").read_text())}
    assert set(rows) == {"tflite_float32", "tflite_int8_ptq"}
    assert rows["tflite_int8_ptq"]["size_bytes"] < 0.5 * rows["tflite_float32"]["size_bytes"]
    for row in rows.values():
        assert row["test_images"] > 0 and 0.0 <= row["accuracy"] <= 1.0
        assert row["invoke_ms_p50"] > 0
        low, high = row["accuracy_interval"]
        assert low <= row["accuracy"] <= high and row["leaked_left_out"] == 0
        flips = row["flips_against_keras"]  # the accuracy difference is exactly the flips' balance
        assert row["keras_accuracy"] - row["accuracy"] == pytest.approx(
            (flips["right_to_wrong"] - flips["wrong_to_right"]) / row["test_images"]
        )
    assert "McNemar" in table and "[95% interval]" in table


def test_demo_bundles_are_verified_and_classify(demo_dir: tuple[Path, subprocess.CompletedProcess]) -> None:
    out, done = demo_dir
    assert done.returncode == 0, done.stderr[-2000:]
    bundle = out / "bundles" / "tflite_int8_ptq"
    metadata = Bundle.open(bundle).metadata
    assert metadata.input.dtype == "uint8" and metadata.input.quantization.scale > 0
    assert metadata.verification["decided_agreement"] >= metadata.verification["min_agreement"]
    assert metadata.provenance["base_weights"] == "none"
    image = next((out / "data" / "pituitary").iterdir())
    prediction = Classifier.from_bundle(bundle).classify(image)
    assert prediction.label in metadata.class_names


def test_demo_refuses_a_non_empty_work_dir(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    done = subprocess.run(
        [sys.executable, "-m", "brainedge.export.demo", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "not empty" in done.stderr and "Traceback" not in done.stderr
