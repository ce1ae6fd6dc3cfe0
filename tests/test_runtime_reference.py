"""The README's reference check: Google's int8 MobileNetV2 names the six shared test images."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference-models"
# The official model's top-1 with bilinear resize, from ../shared/README.md (the first of each
# ImageNet label's synonyms: the labels file says "hotdog, hot dog, red hot").
EXPECTED_TOP1 = {
    "cat.bmp": "Egyptian cat",
    "bird.bmp": "chickadee",
    "grace_hopper.bmp": "military uniform",
    "parrot.jpg": "macaw",
    "hot_dog.jpg": "hotdog",
    "dragonfly.bmp": "dragonfly",
}


def test_brainedge_classify_gives_the_published_top1_labels() -> None:
    if not REFERENCE.is_dir():
        pytest.skip(f"{REFERENCE} is absent: the reference model and images live in ../shared")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "brainedge.edge_runtime",
            "--model",
            str(REFERENCE / "mobilenet_v2_1.0_224_quant.tflite"),
            "--labels",
            str(REFERENCE / "imagenet_labels.txt"),
            str(REFERENCE / "images"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    answers = {}
    for line in done.stdout.splitlines():
        path, verdict = line.split(": ", 1)
        answers[Path(path).name] = verdict.split("  [")[0].split(",")[0]
    assert answers == EXPECTED_TOP1
    # The folder also holds the images' licences: reported as a non-image, not silently skipped.
    assert done.returncode == 1
    assert f"error: {REFERENCE / 'images' / 'COPYRIGHT.txt'}: not an image file" in done.stderr
    assert "Traceback" not in done.stderr
