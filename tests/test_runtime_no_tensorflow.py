"""brainedge-classify in a process where importing TensorFlow is impossible, as on a Raspberry Pi."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from make_tiny_bundles import CLASSES

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference-models"

# Blocks tensorflow, tf_keras and keras on the meta path, runs `python -m brainedge.edge_runtime` with the
# given arguments, and reports on stderr whether any of them got into sys.modules anyway.
WITHOUT_TENSORFLOW = """
import importlib.abc, runpy, sys

BLOCKED = ("tensorflow", "tf_keras", "keras")

class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: the edge runtime must not need it")
        return None

def report():
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    print("LOADED_TENSORFLOW_MODULES=" + ",".join(loaded), file=sys.stderr)

sys.meta_path.insert(0, NoTensorFlow())
if sys.argv[1:] == ["--probe"]:
    import tensorflow
import atexit
atexit.register(report)
sys.argv = ["brainedge-classify", *sys.argv[1:]]
runpy.run_module("edge_runtime", run_name="__main__")
"""


def run_without_tensorflow(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_TENSORFLOW, *args], capture_output=True, text=True, timeout=300
    )


def loaded_modules(stderr: str) -> str:
    line = next(line for line in stderr.splitlines() if line.startswith("LOADED_TENSORFLOW_MODULES="))
    return line.split("=", 1)[1]


def test_the_blocker_really_blocks_tensorflow() -> None:
    done = run_without_tensorflow("--probe")
    assert done.returncode != 0
    assert "ImportError: tensorflow is blocked" in done.stderr


@pytest.mark.parametrize("variant", ["float32", "int8", "float32_head", "int8_head"])
def test_bundles_classify_without_tensorflow(bundles: Path, variant: str) -> None:
    done = run_without_tensorflow("--bundle", str(bundles / variant), "--json", str(bundles / "images"))
    assert done.returncode == 0, done.stderr
    assert loaded_modules(done.stderr) == ""
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == len(CLASSES) * 4
    assert all(record["label"] == Path(record["source"]).parent.name for record in records)


def test_reference_model_classifies_without_tensorflow() -> None:
    if not REFERENCE.is_dir():
        pytest.skip(f"{REFERENCE} is absent: the reference model lives in ../shared")
    done = run_without_tensorflow(
        "--model",
        str(REFERENCE / "mobilenet_v2_1.0_224_quant.tflite"),
        "--labels",
        str(REFERENCE / "imagenet_labels.txt"),
        "--json",
        str(REFERENCE / "images" / "grace_hopper.bmp"),
        str(REFERENCE / "images" / "parrot.jpg"),
    )
    assert done.returncode == 0, done.stderr
    assert loaded_modules(done.stderr) == ""
    assert [json.loads(line)["label"] for line in done.stdout.splitlines()] == ["military uniform", "macaw"]
