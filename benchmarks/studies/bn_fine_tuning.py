"""Batch norm while fine-tuning on small MRI data: frozen (the default) or trained? Measured.

A small leak-free subset of the real Kaggle training folder (a seeded, per-class sample of
each split of the group-aware split made by ``train.data.split.make_split``) is fine-tuned
twice per seed with the same recipe — MobileNetV2 1.0 from the shared ImageNet weights,
1 head epoch then 2 fine-tuning epochs of the whole backbone — once with batch-norm layers
frozen (inference mode, moving statistics fixed) and once with ``--train-batch-norm``.
Reported: validation accuracy after every epoch (the last fine-tuning epoch is the fair
comparison; the run's best checkpoint may fall back to the head epoch), and the held-out
test accuracy of the model each run keeps.

  python -m brainedge.benchmarks.studies.bn_fine_tuning --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from brainedge.benchmarks.device import device_record
from brainedge.benchmarks.studies import SHARED, study_command
from brainedge.edge_runtime.manifest import Manifest, read_manifest, write_manifest
from brainedge.train.run_dir import RunDirectory

TRAINING = SHARED / "data" / "brain-tumor-mri" / "Training"
WEIGHTS = SHARED / "weights" / "mobilenet_v2_1.0_224_imagenet_no_top.h5"
VARIANTS = {"frozen": [], "trained": ["--train-batch-norm"]}


def subset(manifest: Manifest, sizes: dict[str, int], seed: int) -> Manifest:
    """A per-class proportional random sample of each split; splits stay as the leak-free split made them."""
    rng = np.random.default_rng(seed)
    rows = []
    for split, size in sizes.items():
        by_class = defaultdict(list)
        for row in manifest.split(split):
            by_class[row.label].append(row)
        total = sum(len(members) for members in by_class.values())
        for label in sorted(by_class):
            members = by_class[label]
            take = min(len(members), round(size * len(members) / total))
            rows += [members[i] for i in sorted(rng.choice(len(members), take, replace=False))]
    return Manifest(root=manifest.root, rows=rows)


def train(manifest: Path, out: Path, variant: str, seed: int, size: int) -> dict[str, Any]:
    """One brainedge-train run; its per-epoch validation accuracy and its kept model's metrics."""
    command = [
        sys.executable,
        "-m",
        "brainedge.train",
        "--manifest",
        str(manifest),
        "--out",
        str(out),
        "--weights",
        str(WEIGHTS),
        "--alpha",
        "1.0",
        "--input-size",
        str(size),
        "--batch-size",
        "32",
        "--head-epochs",
        "1",
        "--finetune-epochs",
        "2",
        "--qat-epochs",
        "0",
        "--seed",
        str(seed),
        *VARIANTS[variant],
    ]
    started = time.monotonic()
    subprocess.run(command, check=True, stdout=(out.parent / f"{out.name}.log").open("w"), stderr=subprocess.STDOUT)
    run = RunDirectory(out)
    epochs = [
        {"phase": row["phase"], "epoch": int(row["epoch"]), "val_accuracy": row["val_accuracy"]}
        for row in run.history()
    ]
    metrics = run.metrics("float")
    return {
        "variant": variant,
        "seed": seed,
        "seconds": round(time.monotonic() - started, 1),
        "epochs": epochs,
        "last_val_accuracy": epochs[-1]["val_accuracy"],
        "kept_val_accuracy": metrics["val"]["accuracy"],
        "kept_test_accuracy": metrics["test"]["accuracy"],
        "kept_test_macro_f1": metrics["test"]["macro_f1"],
    }


def render(result: dict[str, Any]) -> str:
    counts = result["images"]
    lines = [
        "# Batch-norm handling during fine-tuning, measured",
        "",
        f"Command: `{result['command']}`  ",
        f"Data: leak-free subset of `{TRAINING.relative_to(SHARED.parent)}` — {counts['train']} train / "
        f"{counts['val']} val / {counts['test']} test images, {result['input_size']} px; MobileNetV2 1.0 from "
        f"`{WEIGHTS.name}`, 1 head + 2 fine-tuning epochs (all blocks, lr 1e-4, cosine), batch 32.  ",
        f"Device: {result['device']['cpu']} ({result['device']['cores']} cores)",
        "",
        "| batch norm | seed | val acc per epoch (head, ft1, ft2) | val acc after fine-tuning | "
        "kept model: val acc | kept model: test acc | wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        per_epoch = ", ".join(f"{epoch['val_accuracy']:.3f}" for epoch in run["epochs"])
        lines.append(
            f"| {run['variant']} | {run['seed']} | {per_epoch} | **{run['last_val_accuracy']:.3f}** | "
            f"{run['kept_val_accuracy']:.3f} | {run['kept_test_accuracy']:.3f} | {run['seconds']:.0f} |"
        )
    lines += [
        "",
        "Mean validation accuracy after fine-tuning: "
        + ", ".join(f"{name} {value:.3f}" for name, value in result["mean_last_val_accuracy"].items())
        + f". Verdict: **{result['verdict']}**.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m brainedge.benchmarks.studies.bn_fine_tuning",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--manifest", type=Path, help="a split of the Training folder (default: make one)")
    parser.add_argument("--train", type=int, default=600)
    parser.add_argument("--val", type=int, default=300)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--input-size", type=int, default=128)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--work", type=Path, default=Path("runs/bn_fine_tuning"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    if not TRAINING.is_dir() or not WEIGHTS.is_file():
        print(f"error: {SHARED}: the real data and weights are not here (they live in ../shared)", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    full = args.manifest
    if full is None:
        from brainedge.train.data.split import make_split

        full = args.work / "split.csv"
        make_split(TRAINING, full, seed=0, progress=False)
    small = args.work / "subset.csv"
    sizes = {"train": args.train, "val": args.val, "test": args.test}
    write_manifest(small, subset(read_manifest(full), sizes, seed=0))
    runs = []
    for seed in args.seeds:
        for variant in VARIANTS:
            out = args.work / f"{variant}-seed{seed}"
            if out.exists():
                raise SystemExit(f"error: {out}: exists; remove {args.work} to measure again")
            runs.append(train(small, out, variant, seed, args.input_size))
            print(render_progress(runs[-1]), flush=True)
    means = {
        name: float(np.mean([run["last_val_accuracy"] for run in runs if run["variant"] == name])) for name in VARIANTS
    }
    result = {
        "command": study_command("bn_fine_tuning", argv),
        "images": {split: len(read_manifest(small).split(split)) for split in sizes},
        "input_size": args.input_size,
        "runs": runs,
        "mean_last_val_accuracy": means,
        "verdict": (
            "frozen batch norm is better; keep it the default"
            if means["frozen"] > means["trained"]
            else "training batch norm is not worse here; revisit the default"
        ),
        "device": device_record(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bn_fine_tuning.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "bn_fine_tuning.md").write_text(render(result))
    print(render(result))
    return 0


def render_progress(run: dict[str, Any]) -> str:
    return (
        f"{run['variant']} batch norm, seed {run['seed']}: val accuracy after fine-tuning "
        f"{run['last_val_accuracy']:.3f}, kept model test {run['kept_test_accuracy']:.3f} ({run['seconds']:.0f}s)"
    )


if __name__ == "__main__":
    sys.exit(main())
