"""The folder-streaming study (benchmarks/studies/streaming.py): its Testing-like images and its record."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brainedge.benchmarks.studies import streaming
from brainedge.edge_runtime.engine import Engine
from brainedge.edge_runtime.manifest import Manifest, ManifestRow, write_manifest


def tiny_manifest(bundles: Path, tmp_path: Path) -> Path:
    """Three test images (one 8-bit gray, two colour) and one training image the study must leave out."""
    root = tmp_path / "data"
    rows = []
    for index, (name, split) in enumerate([("red", "test"), ("green", "test"), ("blue", "test"), ("blue", "train")]):
        image = Image.open(bundles / "images" / name / f"{index}.png")
        path = root / name / f"{index}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        (image.convert("L") if index == 0 else image).save(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        rows.append(ManifestRow(f"{name}/{index}.png", name, split, digest[:16], digest, 32, 32, False))
    write_manifest(tmp_path / "manifest.csv", Manifest(root, rows))
    return tmp_path / "manifest.csv"


def test_testing_like_images_are_512_px_jpegs_of_the_test_split_made_once(bundles: Path, tmp_path: Path) -> None:
    manifest = tiny_manifest(bundles, tmp_path)
    images = streaming.testing_like_images(manifest, tmp_path / "jpegs")
    assert [path.relative_to(tmp_path / "jpegs").as_posix() for path in images] == [
        "blue/2.jpg",
        "green/1.jpg",
        "red/0.jpg",
    ]
    with Image.open(images[2]) as gray, Image.open(images[0]) as colour:
        assert gray.format == colour.format == "JPEG"
        assert gray.size == colour.size == (512, 512)
        assert gray.mode == "L" and colour.mode == "RGB"
        assert np.asarray(colour)[..., 2].mean() > np.asarray(colour)[..., 0].mean()  # still blue
    made = [path.stat().st_mtime_ns for path in images]
    assert streaming.testing_like_images(manifest, tmp_path / "jpegs") == images
    assert [path.stat().st_mtime_ns for path in images] == made


def test_the_study_records_rates_identical_answers_and_memory(bundles: Path, tmp_path: Path) -> None:
    manifest = tiny_manifest(bundles, tmp_path)
    out = tmp_path / "results" / "streaming_tiny"
    argv = ["--bundle", str(bundles / "int8_head"), "--manifest", str(manifest), "--images-dir", str(tmp_path / "j")]
    assert streaming.main([*argv, "--rounds", "2", "--memory-repeats", "1", "--out", str(out)]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["images"] == 3 and result["gray_jpegs"] == 1 and result["errors"] == 0
    assert result["identical"] is True
    assert set(result["images_per_s"]) == {"bare", "sequential", *(f"workers_{n}" for n in result["worker_counts"])}
    assert all(len(rates) == 2 and min(rates) > 0 for rates in result["images_per_s_rounds"].values())
    assert result["over_bare"]["sequential"]["rounds"] == 2
    assert list(result["peak_rss"]) == ["0", *(str(n) for n in result["worker_counts"])]
    assert all(10 < runs[0]["peak_rss_mb"] < 500 for runs in result["peak_rss"].values())
    assert result["command"].startswith("python -m brainedge.benchmarks.studies.streaming --bundle")
    assert "## Peak memory" in out.with_suffix(".md").read_text()


def test_the_resident_memory_steps_add_up_to_a_classify_process(bundles: Path, tmp_path: Path) -> None:
    streaming.testing_like_images(tiny_manifest(bundles, tmp_path), tmp_path / "jpegs")
    bundle = bundles / "int8_head"
    done = subprocess.run(
        [sys.executable, "-m", "brainedge.benchmarks.studies.resident", str(bundle), str(tmp_path / "jpegs"), "1", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    resident = json.loads(done.stdout)
    steps = resident["steps"]
    assert [step["step"] for step in steps][:2] == ["Python interpreter", "numpy"]
    assert steps[-1]["step"] == "the folder classified with 2 decode worker(s)"
    assert all(step["rss"] == pytest.approx(step["anonymous"] + step["file"], abs=0.1) for step in steps)
    assert steps[1]["rss"] > steps[0]["rss"] and steps[-1]["peak"] >= max(step["rss"] for step in steps)
    tensor = Engine.from_bundle(bundle).input_spec
    assert resident["full_queue_bytes"] == 3 * tensor.height * tensor.width * 3  # all 3 images: fewer than 2 x 2
