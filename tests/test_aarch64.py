"""aarch64 conformance under qemu: the runtime must answer on a (emulated) Pi as it does on x86.

The first run downloads about 45 MB (Debian arm64 packages and aarch64 wheels) into
.cache/aarch64; later runs reuse them.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.system, pytest.mark.network]

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks/aarch64/conformance.py"
SHARED = REPO.parent / "shared"
# The official model's top-1 for the shared reference images (../shared/README.md).
REFERENCE_TOP1 = {
    "cat.bmp": "Egyptian cat",
    "bird.bmp": "chickadee",
    "grace_hopper.bmp": "military uniform",
    "parrot.jpg": "macaw",
    "hot_dog.jpg": "hotdog",
    "dragonfly.bmp": "dragonfly",
}


def load_conformance():
    spec = importlib.util.spec_from_file_location("aarch64_conformance", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def skip_without_emulation() -> None:
    for tool, package in (("qemu-aarch64-static", "qemu-user-static"), ("apt-get", "apt"), ("dpkg", "dpkg")):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not found (Debian/Ubuntu: apt-get install {package})")
    if not (SHARED / "reference-models").is_dir():
        pytest.skip(f"{SHARED} is absent: the reference model and MRI images live there")


@pytest.fixture(scope="module")
def conformance_result(tmp_path_factory: pytest.TempPathFactory, bundles: Path) -> dict:
    """The conformance run on the committed tiny bundles (tests/data/tiny_bundles), as on a Pi: no TensorFlow."""
    skip_without_emulation()
    output = tmp_path_factory.mktemp("aarch64") / "conformance.json"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--bundle",
            str(bundles / "float32"),
            "--bundle",
            str(bundles / "int8"),
            "--images",
            str(bundles / "images"),
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "meaningless" in done.stdout
    return json.loads(output.read_text())


def test_reference_model_agrees_with_x86_and_with_the_published_answers(conformance_result: dict) -> None:
    reference = conformance_result["models"][0]
    assert reference["name"].startswith("reference")
    assert reference["variant"] == "int8"
    assert reference["top1_matches"] == reference["images"] == len(REFERENCE_TOP1)
    for image in reference["per_image"]:
        assert image["aarch64_top1"].split(",")[0] == REFERENCE_TOP1[Path(image["image"]).name]
    assert reference["max_score_difference"] <= 2 / 256  # at most two uint8 output steps


def test_tiny_bundles_agree_with_x86_on_mri_and_colour_images(conformance_result: dict) -> None:
    tiny = {model["variant"]: model for model in conformance_result["models"][1:]}
    assert set(tiny) == {"float32", "int8"}
    for model in tiny.values():
        assert model["top1_matches"] == model["images"]
        assert sum("brain-tumor-mri" in image["image"] for image in model["per_image"]) == 8
        for image in model["per_image"]:
            if "/images/" in image["image"] and "brain-tumor-mri" not in image["image"]:
                assert image["aarch64_top1"] == Path(image["image"]).parent.name  # the colour class
    assert tiny["float32"]["max_score_difference"] < 1e-4


def test_ran_on_aarch64_without_tensorflow_and_recorded_no_timing(conformance_result: dict) -> None:
    environments = conformance_result["environments"]
    assert environments["aarch64"]["machine"] == "aarch64"
    assert environments["aarch64"]["python"].startswith("3.11.")
    assert not any(env["tensorflow_imported"] for env in environments.values())
    assert conformance_result["passed"] is True
    keys = set(all_keys(conformance_result))
    assert not [key for key in keys if any(word in key for word in ("time", "latency", "_ms", "second"))]


def all_keys(value: object) -> list[str]:
    if isinstance(value, dict):
        return list(value) + [key for item in value.values() for key in all_keys(item)]
    if isinstance(value, list):
        return [key for item in value for key in all_keys(item)]
    return []


def test_a_top1_mismatch_fails_the_comparison() -> None:
    """The comparison itself, without qemu: one flipped answer must be counted."""
    conformance = load_conformance()

    def side(top1: str, scores: list[float]) -> dict:
        return {
            "name": "m",
            "backend": "litert",
            "input_dtype": "uint8",
            "images": [
                {"image": "a.png", "top1": "x", "scores": [0.9, 0.1]},
                {"image": "b.png", "top1": top1, "scores": scores},
            ],
        }

    compared = conformance.compare_model(side("x", [0.6, 0.4]), side("y", [0.4, 0.6]))
    assert compared["top1_matches"] == 1
    assert compared["identical_score_vectors"] == 1
    assert compared["max_score_difference"] == pytest.approx(0.2)
    assert compared["variant"] == "int8"
