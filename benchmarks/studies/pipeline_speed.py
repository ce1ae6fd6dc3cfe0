"""Can the input pipeline feed a GPU? Its images/s alone must be >= 5x the training step's.

On the real 224 px training split (the manifest of ``benchmarks/mri_224.sh``), this times
``train.pipeline.make_dataset`` (decode with the edge runtime's decoder, cache, shuffle,
resize, augmentation, normalisation, prefetch) with no model attached: one cold epoch
(decoding and filling the cache) and one warm epoch (from the cache, as every epoch after
the first). Then it times the training step alone, on one fixed batch already in memory,
for both phases of the recipe: head (frozen backbone, the fastest step) and fine-tuning
(everything but batch norm, the bulk of a run). The 5x verdict is given for both steps,
and the epoch lines of the 224 px run's log are reported next to them.

  python -m brainedge.benchmarks.studies.pipeline_speed --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from brainedge.benchmarks.device import device_record
from brainedge.benchmarks.studies import CHECKOUT, SHARED, study_command
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.manifest import read_manifest
from brainedge.edge_runtime.metadata import InputSpec
from brainedge.train.run_dir import RunDirectory

TARGET_RATIO = 5.0
RUN = CHECKOUT / "runs" / "mri_224"


def manifest_path(given: Path | None, work: Path) -> Path:
    """The 224 px run's manifest, or a fresh leak-free split of the shared Training folder."""
    if given is not None:
        return given
    if (RUN / "manifest.csv").exists():
        return RUN / "manifest.csv"
    from brainedge.train.data.split import make_split

    path = work / "manifest.csv"
    make_split(SHARED / "data" / "brain-tumor-mri" / "Training", path, progress=False)
    return path


def time_pipeline(files: list, size: int, batch_size: int) -> dict[str, Any]:
    """Images/s of a cold then a warm epoch of the training dataset, nothing consuming but a loop."""
    from brainedge.train.pipeline import make_dataset

    spec = InputSpec(height=size, width=size)
    dataset = make_dataset(files, spec, num_classes=4, batch_size=batch_size, training=True, seed=0)
    epochs = {}
    for name in ("cold", "warm"):
        started, images = time.perf_counter(), 0
        for batch, _ in dataset:
            images += int(batch.shape[0])
        seconds = time.perf_counter() - started
        epochs[name] = {"images": images, "seconds": round(seconds, 2), "images_per_s": round(images / seconds, 1)}
    return epochs


def time_steps(weights: str, size: int, batch_size: int, steps: int) -> dict[str, Any]:
    """Images/s of the recipe's training step (head and fine-tuning) on a batch already in memory."""
    import numpy as np

    from brainedge.train.config import ModelConfig
    from brainedge.train.model import build_model, set_trainable_blocks
    from brainedge.train.tf_setup import keras

    model = build_model(ModelConfig(num_classes=4, input_size=size, alpha=1.0, weights=weights))
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (batch_size, size, size, 3)).astype(np.float32)
    labels = np.eye(4, dtype=np.float32)[rng.integers(0, 4, batch_size)]
    phases = {}
    for phase, blocks in (("head", "0"), ("finetune", "all")):
        set_trainable_blocks(model, blocks, train_batch_norm=False)
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="categorical_crossentropy", metrics=["accuracy"])
        for _ in range(2):  # trace and warm up
            model.train_on_batch(images, labels)
        started = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(images, labels)
        seconds = time.perf_counter() - started
        phases[phase] = {
            "images": steps * batch_size,
            "seconds": round(seconds, 2),
            "images_per_s": round(steps * batch_size / seconds, 1),
        }
    return phases


def logged_epochs(run: Path) -> list[dict[str, Any]]:
    """Images/s of each epoch of the 224 px run, as its run directory recorded them."""
    return [
        {"phase": row["phase"], "epoch": int(row["epoch"]), "images_per_s": round(row["images_per_s"])}
        for row in RunDirectory(run).history()
        if "images_per_s" in row
    ]


def render(result: dict[str, Any]) -> str:
    pipeline, steps = result["pipeline"], result["training_step"]
    lines = [
        f"# Input pipeline vs training step, {result['input_size']} px, batch {result['batch_size']}",
        "",
        f"Command: `{result['command']}`  ",
        f"Data: {result['train_images']} training images of `{result['manifest']}`  ",
        f"Device: {result['device']['cpu']} ({result['device']['cores']} cores), 1-minute load average at the "
        f"end {result['device']['load_average_1m']:.2f}",
        "",
        "| measure | images/s |",
        "|---|---|",
        f"| pipeline alone, cold epoch (decode + cache fill) | {pipeline['cold']['images_per_s']:.0f} |",
        f"| pipeline alone, warm epoch (from cache) | {pipeline['warm']['images_per_s']:.0f} |",
        f"| training step, head phase (frozen backbone) | {steps['head']['images_per_s']:.1f} |",
        f"| training step, fine-tuning phase | {steps['finetune']['images_per_s']:.1f} |",
        "",
        f"Ratio of the pipeline (slower of cold/warm) to the training step (target >= {TARGET_RATIO:.0f}x):",
        "",
        *[
            f"- {phase} step: **{ratio:.1f}x** ({'met' if ratio >= TARGET_RATIO else '**NOT met**'})"
            for phase, ratio in result["ratios"].items()
        ],
        "",
    ]
    if result["logged_epochs"]:
        lines += [
            "Epochs of the 224 px run (`runs/mri_224/run/history.csv`; wall time incl. validation, CPU shared "
            "with anything else running):",
            "",
            "| phase | epoch | images/s |",
            "|---|---|---|",
        ]
        lines += [f"| {row['phase']} | {row['epoch']} | {row['images_per_s']} |" for row in result["logged_epochs"]]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m brainedge.benchmarks.studies.pipeline_speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--manifest", type=Path, help="default: runs/mri_224/manifest.csv or a fresh split")
    parser.add_argument("--weights", default=str(SHARED / "weights" / "mobilenet_v2_1.0_224_imagenet_no_top.h5"))
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8, help="timed training steps per phase")
    parser.add_argument("--run", type=Path, default=RUN / "run", help="the 224 px training run directory")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    if args.manifest is None and not (SHARED / "data").is_dir():
        print(f"error: {SHARED / 'data'}: the real data is not here (it lives in ../shared)", file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory() as work:
            manifest = manifest_path(args.manifest, Path(work))
            files = read_manifest(manifest).files("train")
            pipeline = time_pipeline(files, args.input_size, args.batch_size)
        steps = time_steps(args.weights, args.input_size, args.batch_size, args.steps)
    except BrainEdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    slowest_pipeline = min(epoch["images_per_s"] for epoch in pipeline.values())
    ratios = {phase: round(slowest_pipeline / step["images_per_s"], 2) for phase, step in steps.items()}
    result = {
        "command": study_command("pipeline_speed", argv),
        "manifest": str(manifest),
        "train_images": len(files),
        "input_size": args.input_size,
        "batch_size": args.batch_size,
        "pipeline": pipeline,
        "training_step": steps,
        "ratios": ratios,
        "target_ratio": TARGET_RATIO,
        "target_met": {phase: ratio >= TARGET_RATIO for phase, ratio in ratios.items()},
        "logged_epochs": logged_epochs(args.run),
        "device": device_record(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pipeline_speed.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "pipeline_speed.md").write_text(render(result))
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
