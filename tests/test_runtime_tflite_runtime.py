"""LiteRT here vs tflite-runtime 2.14 with numpy 1.x in its own environment: the same top-1.

tflite-runtime's wheels need numpy < 2, so tests/tflite_runtime_env.sh runs the runtime from
this checkout in a cached virtual environment; the test skips with its reason when
tflite-runtime cannot be installed (no wheel for this Python or machine, or no network).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from brainedge.edge_runtime.engine import Engine

pytestmark = [pytest.mark.slow, pytest.mark.network]

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tests" / "tflite_runtime_env.sh"
REFERENCE = REPO.parent / "shared" / "reference-models"
CANNOT_INSTALL = 3


def under_tflite_runtime(args: list[str], images: list[Path]) -> dict[str, str]:
    """{path: top-1 label} from brainedge-classify --backend tflite_runtime in the numpy-1 environment."""
    if shutil.which("bash") is None:
        pytest.skip("bash is needed to run tests/tflite_runtime_env.sh")
    done = subprocess.run(
        ["bash", str(SCRIPT), *args, "--json", *map(str, images)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHON=sys.executable),
        timeout=600,
    )
    if done.returncode == CANNOT_INSTALL:
        pytest.skip(done.stderr.strip().splitlines()[-1])
    assert done.returncode == 0, done.stderr[-3000:]
    versions = re.search(r"tflite-runtime (\S+), numpy (\d+)\.", done.stderr)
    assert versions and versions.groups() == ("2.14.0", "1")  # really the old stack
    return {record["source"]: record["label"] for record in map(json.loads, done.stdout.splitlines())}


def under_litert(classifier: Engine, images: list[Path]) -> dict[str, str]:
    assert classifier.backend.name == "litert"
    return {str(path): classifier.classify(path, top_k=1).label for path in images}


def test_reference_model_same_top1_as_litert() -> None:
    if not REFERENCE.is_dir():
        pytest.skip(f"{REFERENCE} is absent: the reference model and images live in ../shared")
    model, labels = REFERENCE / "mobilenet_v2_1.0_224_quant.tflite", REFERENCE / "imagenet_labels.txt"
    images = sorted(p for p in (REFERENCE / "images").iterdir() if p.suffix in (".bmp", ".jpg"))
    expected = under_litert(Engine.from_model(model, labels, backend="litert"), images)
    assert under_tflite_runtime(["--model", str(model), "--labels", str(labels)], images) == expected


@pytest.mark.parametrize("variant", ["float32", "int8"])
def test_bundles_same_top1_as_litert(bundles: Path, variant: str) -> None:
    images = sorted((bundles / "images").rglob("*.png"))
    expected = under_litert(Engine.from_bundle(bundles / variant, backend="litert"), images)
    assert expected == {str(path): path.parent.name for path in images}
    assert under_tflite_runtime(["--bundle", str(bundles / variant)], images) == expected
