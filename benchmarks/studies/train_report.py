"""The issue-4 training record of a finished run: held-out accuracy and macro-F1 against the
targets, wall time and images/s per phase, the recipe that produced them.

Reads what brainedge-train left in the run directory (config.json, history.csv,
metrics_float.json, metrics_qat.json) and its console log, where ``benchmarks/mri_224.sh``
also keeps the ``/usr/bin/time -v`` summary (wall clock, peak memory).

  python -m brainedge.benchmarks.studies.train_report runs/mri_224/run --log runs/mri_224/train.log \\
      --command "bash benchmarks/mri_224.sh" --out benchmarks/results/train_mri_224
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from brainedge.benchmarks.device import device_record
from brainedge.train.run_dir import RunDirectory

TARGETS = {"accuracy": 0.98, "macro_f1": 0.98}
"""On the run's held-out test split (issue 4)."""
WALL_CLOCK = re.compile(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)")
PEAK_RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")


def seconds(clock: str) -> float:
    """``h:mm:ss`` or ``m:ss.ss`` as seconds."""
    total = 0.0
    for part in clock.split(":"):
        total = total * 60 + float(part)
    return total


def process_record(log: Path | None) -> dict[str, Any]:
    """The whole process's wall clock and peak RSS, from ``/usr/bin/time -v``'s lines in its log."""
    text = log.read_text(errors="replace") if log is not None and log.exists() else ""
    wall, peak = WALL_CLOCK.search(text), PEAK_RSS.search(text)
    return {
        "wall_s": seconds(wall.group(1)) if wall else None,
        "peak_rss_mb": int(peak.group(1)) / 1024 if peak else None,
    }


def build_record(run: Path, log: Path | None, command: str) -> dict[str, Any]:
    directory = RunDirectory(run)
    config = directory.read_config()
    metrics = {name: directory.metrics(name) for name in ("float", "qat") if directory.metrics(name) is not None}
    if "float" not in metrics:
        raise FileNotFoundError(f"{run}: no metrics_float.json; did training finish?")
    test = metrics["float"].get("test")
    if test is None:
        raise ValueError(f"{run}: the manifest has no test split, so there is nothing held out to report")
    checks = [
        {"target": f"test {name} >= {target}", "measured": round(test[name], 4), "met": test[name] >= target}
        for name, target in TARGETS.items()
    ]
    return {
        "command": command,
        "run": str(run),
        "class_names": config["class_names"],
        "recipe": config["train"],
        "strategy": config["strategy"],
        "replicas": config["replicas"],
        "versions": config["versions"],
        "metrics": metrics,
        "history": directory.history(),
        "process": process_record(log),
        "acceptance": checks,
        "device": device_record(),
    }


def markdown(record: dict[str, Any]) -> str:
    recipe, float_metrics, process = record["recipe"], record["metrics"]["float"], record["process"]
    model = recipe["model"]
    lines = [
        "# Training (issue 4): MobileNetV2 fine-tuned on brain-tumor-mri, held-out test split",
        "",
        f"Command: `{record['command']}`  ",
        f"Device: {record['device']['cpu']} ({record['device']['cores']} cores), {record['strategy']} with "
        f"{record['replicas']} replica(s), TensorFlow {record['versions']['tensorflow']}",
        "",
        f"Recipe: MobileNetV2 alpha {model['alpha']}, {model['input_size']} px, weights `{model['weights']}`; "
        f"head {recipe['head_epochs']} epochs at {recipe['head_learning_rate']}, then {recipe['finetune_epochs']} "
        f"fine-tuning epochs (blocks: {recipe['finetune_blocks']}) at {recipe['finetune_learning_rate']} with cosine "
        f"decay, batch {recipe['batch_size']}, batch norm {'trained' if recipe['train_batch_norm'] else 'frozen'}, "
        f"early stopping patience {recipe['patience']}, label smoothing {recipe['label_smoothing']}, class weights "
        f"{'on' if recipe['use_class_weights'] else 'off'}; QAT {recipe['qat_epochs']} epoch(s) at "
        f"{recipe['qat_learning_rate']}.",
        "",
        "| model | split | images | accuracy | macro-F1 |",
        "|---|---|---:|---:|---:|",
    ]
    for name, splits in record["metrics"].items():
        for split, scores in splits.items():
            lines.append(
                f"| {name} | {split} | {scores['count']} | {scores['accuracy']:.4f} | {scores['macro_f1']:.4f} |"
            )
    lines += ["", "## Acceptance (issue 4)", "", "| target | measured | met |", "|---|---|---|"]
    lines += [
        f"| {c['target']} | {c['measured']:.4f} | {'yes' if c['met'] else '**no**'} |" for c in record["acceptance"]
    ]
    test = float_metrics["test"]
    lines += [
        "",
        "## Per class (float model, test split)",
        "",
        "| class | precision | recall | F1 | ROC-AUC | support |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {name} | {s['precision']:.4f} | {s['recall']:.4f} | {s['f1']:.4f} | {s['roc_auc']:.4f} | {s['support']} |"
        for name, s in test["per_class"].items()
    ]
    lines += [
        "",
        f"Confusion matrix (rows true, columns predicted, in the order above): `{test['confusion_matrix']}`",
        "",
        "## Time on this machine",
        "",
    ]
    if process["wall_s"] is not None:
        lines.append(
            f"Wall time of the whole `brainedge-train` process (every phase, evaluation and plots "
            f"included): {process['wall_s'] / 60:.1f} min; peak RSS {process['peak_rss_mb']:.0f} MB."
        )
    lines += [
        "",
        "| phase | epoch | images/s (epoch wall time, validation included) | val accuracy |",
        "|---|---|---:|---:|",
    ]
    for row in record["history"]:
        rate, score = row.get("images_per_s"), row.get("val_accuracy")
        lines.append(
            f"| {row['phase']} | {int(row['epoch'])} | {'' if rate is None else f'{rate:.0f}'} | "
            f"{'' if score is None else f'{score:.4f}'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m brainedge.benchmarks.studies.train_report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run", type=Path, help="a finished brainedge-train run directory")
    parser.add_argument(
        "--log", type=Path, help="the run's console log, for /usr/bin/time -v's wall clock and peak RSS"
    )
    parser.add_argument("--command", required=True, help="the command that trained the run")
    parser.add_argument("--out", type=Path, required=True, help="output path without suffix")
    args = parser.parse_args(argv)
    try:
        record = build_record(args.run, args.log, args.command)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    text = markdown(record)
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
