"""Score every image of a job with the edge runtime and write all the scores to JSON.

conformance.py runs this file twice, natively and under qemu-aarch64, with the checkout's
runtime on PYTHONPATH as ``brainedge.edge_runtime``. It needs only the edge runtime's own
dependencies (never TensorFlow) and records no timing: under emulation a timing says nothing
about a Raspberry Pi.

usage: python probe.py JOB.json RESULT.json
"""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from brainedge.edge_runtime.engine import Engine

RUNTIME_PACKAGES = ("numpy", "pillow", "ai-edge-litert", "tflite-runtime")


def load_engine(model: dict[str, Any]) -> Engine:
    if "bundle" in model:
        return Engine.from_bundle(model["bundle"])
    return Engine.from_model(model["model"], model["labels"])


def score_images(model: dict[str, Any]) -> dict[str, Any]:
    """Full probability vectors, so the caller can compare more than the winner."""
    engine = load_engine(model)
    images = []
    for image in model["images"]:
        probabilities = engine.probabilities(engine.preprocess(image))[0]
        images.append(
            {"image": image, "top1": engine.rank(probabilities, top_k=1).label, "scores": probabilities.tolist()}
        )
    return {
        "name": model["name"],
        "backend": engine.backend.name,
        "input_dtype": engine.input_spec.dtype,
        "images": images,
    }


def describe_environment() -> dict[str, Any]:
    versions = {}
    for package in RUNTIME_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "packages": versions,
        "tensorflow_imported": "tensorflow" in sys.modules,
    }


def main(job_path: str, result_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    models = [score_images(model) for model in job["models"]]
    result = {"environment": describe_environment(), "models": models}
    Path(result_path).write_text(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:])
