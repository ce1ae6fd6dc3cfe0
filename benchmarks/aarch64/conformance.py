"""aarch64 conformance: does the edge runtime give a Raspberry Pi the same answers as x86?

Builds (or reuses) an arm64 Debian Bookworm Python 3.11 with aarch64 wheels
(build_env.sh), then runs the checkout's edge runtime twice on the same models and images:
natively, and under qemu-aarch64 user-mode emulation. It compares the top-1 class of
every image (it must be identical, int8 and float alike) and reports the largest score
difference, writing everything to a JSON file.

Checked models: the shared reference model (Google's int8 MobileNetV2) on the shared
reference images, and every --bundle on a sample of the shared MRI images plus --images.

Timings under emulation are meaningless (qemu translates every instruction), so none are
taken or recorded; measure speed on a real Pi with brainedge-bench.

usage: python benchmarks/aarch64/conformance.py [--bundle DIR ...] [--images PATH ...]
From a clone, without TensorFlow or a trained model (what tests/test_aarch64.py runs, on the
committed tiny bundles):
       python benchmarks/aarch64/conformance.py --bundle tests/data/tiny_bundles/float32 \
           --bundle tests/data/tiny_bundles/int8 --images tests/data/tiny_bundles/images
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from brainedge.edge_runtime.bundle import is_bundle
from brainedge.edge_runtime.files import is_image_name

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PROBE = HERE / "probe.py"
TIMING_NOTE = (
    "Timings under qemu user-mode emulation are meaningless: no timing is measured or "
    "recorded here. Measure speed on a real Raspberry Pi with brainedge-bench."
)
REFERENCE_MODEL = "reference-models/mobilenet_v2_1.0_224_quant.tflite"
REFERENCE_LABELS = "reference-models/imagenet_labels.txt"
REFERENCE_IMAGES = "reference-models/images"
MRI_DIR = "data/brain-tumor-mri/Training"


class ConformanceError(Exception):
    """The check could not run (missing tool, missing data, a side crashed)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--bundle", type=Path, action="append", default=[], help="a model bundle directory to check (repeatable)"
    )
    parser.add_argument(
        "--images",
        type=Path,
        action="append",
        default=[],
        help="extra images, or folders of images, for the bundles (repeatable)",
    )
    parser.add_argument(
        "--shared",
        type=Path,
        default=REPO.parent / "shared",
        help="the shared data folder (default: ../shared); skipped parts when absent",
    )
    parser.add_argument(
        "--mri-per-class", type=int, default=2, help="MRI images per class for the bundles (default: 2, i.e. 8 images)"
    )
    parser.add_argument(
        "--cpu", default="cortex-a72", help="emulated CPU (default: cortex-a72, a Raspberry Pi 4; cortex-a76 is a Pi 5)"
    )
    parser.add_argument(
        "--native-python",
        default=sys.executable,
        help="host Python with the edge runtime's dependencies (default: this one)",
    )
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks/results/aarch64_conformance.json")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per run")
    return parser


def build_environment(native_python: str, timeout: float) -> tuple[Path, Path]:
    """Run build_env.sh (cached after the first time); returns the arm64 root and site dirs."""
    env = dict(os.environ, PYTHON=native_python)
    done = subprocess.run(
        ["bash", str(HERE / "build_env.sh")], env=env, stdout=subprocess.PIPE, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise ConformanceError("build_env.sh failed (its message is above)")
    paths = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return Path(paths["root"]), Path(paths["site"])


def list_images(paths: list[Path]) -> list[str]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if is_image_name(p))
        elif path.is_file():
            found.append(path)
        else:
            raise ConformanceError(f"{path}: no such file or directory")
    return [str(p.resolve()) for p in found]


def mri_sample(shared: Path, per_class: int) -> list[str]:
    """A fixed, evenly spaced sample from each class folder, so every run checks the same files."""
    root = shared / MRI_DIR
    if not root.is_dir() or per_class <= 0:
        return []
    sample = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(p for p in class_dir.iterdir() if is_image_name(p))
        step = max(1, len(files) // per_class)
        sample += [str(p.resolve()) for p in files[::step][:per_class]]
    return sample


def plan_models(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The job both sides run: the reference model when ../shared is here, then each bundle."""
    models = []
    if (args.shared / REFERENCE_MODEL).is_file():
        models.append(
            {
                "name": "reference " + Path(REFERENCE_MODEL).name,
                "model": str((args.shared / REFERENCE_MODEL).resolve()),
                "labels": str((args.shared / REFERENCE_LABELS).resolve()),
                "images": list_images([args.shared / REFERENCE_IMAGES]),
            }
        )
    bundle_images = mri_sample(args.shared, args.mri_per_class) + list_images(args.images)
    if args.bundle and not bundle_images:
        raise ConformanceError(
            f"no images for the bundles: {args.shared / MRI_DIR} is absent and no --images were given"
        )
    for bundle in args.bundle:
        if not is_bundle(bundle):
            raise ConformanceError(f"{bundle}: not a model bundle (no bundle metadata)")
        models.append({"name": str(bundle), "bundle": str(bundle.resolve()), "images": bundle_images})
    if not models:
        raise ConformanceError(f"nothing to check: {args.shared / REFERENCE_MODEL} is absent and no --bundle was given")
    return models


def run_probe(command: list[str], env: dict[str, str], job: Path, side: str, timeout: float) -> dict[str, Any]:
    result = job.with_name(f"{side}.json")
    done = subprocess.run(
        command + [str(PROBE), str(job), str(result)], env=env, timeout=timeout, capture_output=True, text=True
    )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ConformanceError(f"the {side} run failed (exit {done.returncode}): {tail}")
    return json.loads(result.read_text())


def source_view(scratch: Path) -> Path:
    """A folder where ``brainedge.edge_runtime`` is this checkout's edge_runtime/, for PYTHONPATH.

    Only the runtime is visible: the probe must work with what a Pi install has.
    """
    view = scratch / "src"
    (view / "brainedge").mkdir(parents=True)
    (view / "brainedge" / "edge_runtime").symlink_to(REPO / "edge_runtime", target_is_directory=True)
    return view


def native_run(native_python: str, view: Path, job: Path, timeout: float) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(view), PYTHONNOUSERSITE="1")
    return run_probe([native_python], env, job, "native", timeout)


def emulated_run(root: Path, site: Path, view: Path, cpu: str, job: Path, timeout: float) -> dict[str, Any]:
    """The same probe on the arm64 Python, seeing only the checkout and the aarch64 wheels."""
    qemu = shutil.which("qemu-aarch64-static")
    if qemu is None:
        raise ConformanceError("qemu-aarch64-static not found (sudo apt-get install qemu-user-static)")
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(job.parent),
        "QEMU_CPU": cpu,
        "PYTHONPATH": f"{view}{os.pathsep}{site}",
        "PYTHONNOUSERSITE": "1",
    }
    command = [qemu, "-L", str(root), str(root / "usr/bin/python3.11")]
    result = run_probe(command, env, job, "aarch64", timeout)
    if result["environment"]["machine"] != "aarch64":
        raise ConformanceError(f"the emulated run reports machine {result['environment']['machine']!r}")
    return result


def compare_model(native: dict[str, Any], emulated: dict[str, Any]) -> dict[str, Any]:
    """Top-1 agreement and score differences for one model, image by image."""
    images = []
    for x86, arm in zip(native["images"], emulated["images"]):
        difference = max(abs(a - b) for a, b in zip(x86["scores"], arm["scores"]))
        images.append(
            {
                "image": x86["image"],
                "x86_64_top1": x86["top1"],
                "aarch64_top1": arm["top1"],
                "same_top1": x86["top1"] == arm["top1"],
                "identical_scores": x86["scores"] == arm["scores"],
                "max_score_difference": difference,
            }
        )
    quantized = native["input_dtype"] in ("uint8", "int8")
    return {
        "name": native["name"],
        "variant": "int8" if quantized else "float32",
        "backend": {"x86_64": native["backend"], "aarch64": emulated["backend"]},
        "images": len(images),
        "top1_matches": sum(image["same_top1"] for image in images),
        "identical_score_vectors": sum(image["identical_scores"] for image in images),
        "max_score_difference": max(image["max_score_difference"] for image in images),
        "per_image": images,
    }


def qemu_version() -> str:
    done = subprocess.run(["qemu-aarch64-static", "--version"], stdout=subprocess.PIPE, text=True)
    return done.stdout.splitlines()[0] if done.stdout else "unknown"


def report(models: list[dict[str, Any]]) -> None:
    for model in models:
        print(
            f"{model['name']} [{model['variant']}]: top-1 {model['top1_matches']}/{model['images']} "
            f"identical, score vectors bit-identical {model['identical_score_vectors']}/{model['images']}, "
            f"largest score difference {model['max_score_difference']:.3g}"
        )
        for image in model["per_image"]:
            if not image["same_top1"]:
                print(
                    f"  MISMATCH {image['image']}: x86_64 {image['x86_64_top1']!r}, aarch64 {image['aarch64_top1']!r}"
                )


def run(args: argparse.Namespace) -> int:
    print(TIMING_NOTE)
    models = plan_models(args)
    root, site = build_environment(args.native_python, args.timeout)
    with tempfile.TemporaryDirectory(prefix="brainedge-aarch64-") as scratch:
        job = Path(scratch) / "job.json"
        job.write_text(json.dumps({"models": models}))
        view = source_view(Path(scratch))
        native = native_run(args.native_python, view, job, args.timeout)
        emulated = emulated_run(root, site, view, args.cpu, job, args.timeout)
    compared = [compare_model(x86, arm) for x86, arm in zip(native["models"], emulated["models"])]
    environments = {"x86_64": native["environment"], "aarch64": emulated["environment"]}
    passed = all(model["top1_matches"] == model["images"] for model in compared) and not any(
        env["tensorflow_imported"] for env in environments.values()
    )
    result = {
        "note": TIMING_NOTE,
        "passed": passed,
        "emulator": qemu_version(),
        "emulated_cpu": args.cpu,
        "environments": environments,
        "models": compared,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    report(compared)
    print(f"{'PASS' if passed else 'FAIL'}: wrote {args.output}")
    return 0 if passed else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except ConformanceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except subprocess.TimeoutExpired as error:
        print(f"error: {error.cmd[0]} ran past {error.timeout:.0f} s", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
