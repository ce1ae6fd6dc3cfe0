"""The issue-4 training record of a finished run: held-out accuracy and macro-F1 against the
targets, with 95% intervals, on the leak-free test images (the all-images figure beside it),
wall time and images/s per phase, the recipe that produced them; given several runs of one
recipe, the spread of their scores over seeds.

Reads what brainedge-train left in the run directory (config.json, history.csv,
metrics_float.json, metrics_qat.json) and its console log, where ``benchmarks/mri_224.sh``
also keeps the ``/usr/bin/time -v`` summary (wall clock, peak memory).

  python -m brainedge.benchmarks.studies.train_report runs/mri_224/run --log runs/mri_224/train.log \\
      --command "bash benchmarks/mri_224.sh" --out benchmarks/results/train_mri_224
  python -m brainedge.benchmarks.studies.train_report runs/seed0 runs/seed1 runs/seed2 --command "..." --out ...
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from brainedge.benchmarks.device import device_record
from brainedge.benchmarks.studies import record_paths, write_record
from brainedge.benchmarks.studies.stats import SPREAD_CAVEAT, Spread, spread
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.manifest import Manifest, read_manifest
from brainedge.edge_runtime.metrics import with_interval
from brainedge.train.config import Phase, TrainConfig, phases, qat_phase
from brainedge.train.run_dir import RunDirectory
from brainedge.train.scoring import LEAK_FREE_TEST, images_label, stored_reports

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
    """The process's wall clock and peak RSS from ``/usr/bin/time -v``'s lines in its log; a log a resumed
    run appended to holds one summary per attempt: their wall clocks add up, the largest peak counts."""
    text = log.read_text(errors="replace") if log is not None and log.exists() else ""
    walls = [seconds(clock) for clock in WALL_CLOCK.findall(text)]
    peaks = [int(kilobytes) / 1024 for kilobytes in PEAK_RSS.findall(text)]
    return {"wall_s": sum(walls) if walls else None, "peak_rss_mb": max(peaks, default=None)}


def build_record(run: Path, log: Path | None, command: str) -> dict[str, Any]:
    directory = RunDirectory(run)
    config = directory.read_config()
    metrics = run_metrics(directory, config)
    if "float" not in metrics:
        raise FileNotFoundError(f"{run}: no metrics_float.json; did training finish?")
    test = metrics["float"].get(LEAK_FREE_TEST)
    if test is None:
        raise ValueError(f"{run}: no leak-free test image (no test split, or every one a near-duplicate of training)")
    return {
        "command": command,
        "run": str(run),
        "class_names": config["class_names"],
        "recipe": TrainConfig.from_dict(config["train"]).to_dict(),
        "strategy": config["strategy"],
        "replicas": config["replicas"],
        "versions": config["versions"],
        "metrics": metrics,
        "history": directory.history(),
        "process": process_record(log),
        "acceptance": acceptance(test),
        "device": device_record(),
    }


def run_metrics(directory: RunDirectory, config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """metrics_float.json and metrics_qat.json as this version writes them, older runs' brought up to date."""
    manifest = run_manifest(config)
    return {
        name: stored_reports(stored, config["class_names"], manifest)
        for name in ("float", "qat")
        if (stored := directory.metrics(name)) is not None
    }


def run_manifest(config: dict[str, Any]) -> Manifest | None:
    """The manifest the run was trained on, while it is still where the run says."""
    path = Path(config["manifest"])
    return read_manifest(path) if path.is_file() else None


def acceptance(test: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue-4 targets on the leak-free test split, each with its measured value and 95% interval."""
    return [
        {
            "target": f"test {name} >= {target}",
            "measured": round(test[name], 4),
            "interval": test["intervals"][name],
            "met": test[name] >= target,
        }
        for name, target in TARGETS.items()
    ]


def seed_spread(runs: list[Path]) -> dict[str, Any]:
    """Each run's leak-free test scores and their spread over the runs."""
    configs = [RunDirectory(run).read_config() for run in runs]
    rows = []
    for run, config in zip(runs, configs):
        check_same_recipe(run, config, runs[0], configs[0])
        for model, reports in run_metrics(RunDirectory(run), config).items():
            if LEAK_FREE_TEST in reports:
                rows.append(
                    {"run": str(run), "seed": config["train"]["seed"], "model": model, "test": reports[LEAK_FREE_TEST]}
                )
    spreads = {
        model: {
            score: spread([row["test"][score] for row in rows if row["model"] == model]).record() for score in TARGETS
        }
        for model in dict.fromkeys(row["model"] for row in rows)
    }
    return {"runs": rows, "spread": spreads}


def check_same_recipe(run: Path, config: dict[str, Any], first_run: Path, first: dict[str, Any]) -> None:
    """Runs compared over seeds differ in the seed only: a spread over different recipes would mean nothing."""
    # through TrainConfig: a run saved before a knob existed had that knob's default
    recipe, reference = (TrainConfig.from_dict(c["train"]).to_dict() for c in (config, first))
    differing = sorted(key for key in {*recipe, *reference} - {"seed"} if recipe.get(key) != reference.get(key))
    if differing:
        raise ValueError(f"{run}: recipe differs from {first_run}'s in {', '.join(differing)}, not only the seed")


def markdown(record: dict[str, Any]) -> str:
    sections = [_recipe(record), _scores(record), _acceptance(record), _per_class(record)]
    if "seeds" in record:
        sections.append(_seeds(record["seeds"]))
    sections.append(_time(record))
    return "\n".join(sections)


def _recipe(record: dict[str, Any]) -> str:
    recipe = record["recipe"]
    config = TrainConfig.from_dict(recipe)
    stages = [*phases(config), *([qat_phase(config)] if config.qat_epochs else [])]
    return "\n".join(
        [
            "# Training (issue 4): MobileNetV2 fine-tuned on brain-tumor-mri, held-out test split",
            "",
            f"Command: `{record['command']}`  ",
            f"Device: {record['device']['cpu']} ({record['device']['cores']} cores), {record['strategy']} with "
            f"{record['replicas']} replica(s), TensorFlow {record['versions']['tensorflow']}",
            "",
            f"Recipe: MobileNetV2 alpha {config.model.alpha}, {config.model.input_size} px, weights "
            f"`{config.model.weights}`; {'; then '.join(_phase_text(stage) for stage in stages)}. Batch "
            f"{config.batch_size}, {_weights_kept(config)}, label smoothing "
            f"{config.label_smoothing}, mixup {config.mixup}, weight decay {config.weight_decay}, weight averaging "
            f"(EMA) {config.ema or 'off'}, class weights {'on' if config.use_class_weights else 'off'}.",
            "",
        ]
    )


def _weights_kept(config: TrainConfig) -> str:
    if config.refit:
        return "trained on train + val, every epoch run and the last one's weights kept"
    if config.keep_last_epoch:
        return "every epoch run and the last one's weights kept"
    return f"the best epoch by val accuracy kept, early stopping patience {config.patience}"


def _phase_text(phase: Phase) -> str:
    layers = {"0": "head only", "all": "every layer"}.get(phase.blocks, f"head + top {phase.blocks} blocks")
    schedule = " with cosine decay" if phase.cosine else ""
    batch_norm = "batch norm trained" if phase.batch_norm else "batch norm frozen"
    return f"{phase.name} {phase.epochs} epoch(s) at {phase.learning_rate}{schedule} ({layers}, {batch_norm})"


def _scores(record: dict[str, Any]) -> str:
    lines = [
        "The headline is the test split without the images the manifest flags as near-duplicates of training "
        "images; when there are any, the figure on all test images is given beside it, labelled. Intervals: "
        f"95%, {record['metrics']['float'][LEAK_FREE_TEST]['intervals']['method']}.",
        "",
        "| model | images | accuracy [95% interval] | macro-F1 [95% interval] |",
        "|---|---|---:|---:|",
    ]
    for name, reports in record["metrics"].items():
        for key, report in reports.items():
            intervals = report["intervals"]
            lines.append(
                f"| {name} | {key}: {images_label(key, report)} | "
                f"{with_interval(report['accuracy'], intervals['accuracy'])} | "
                f"{with_interval(report['macro_f1'], intervals['macro_f1'])} |"
            )
    return "\n".join(lines) + "\n"


def _acceptance(record: dict[str, Any]) -> str:
    lines = ["## Acceptance (issue 4)", "", "| target | measured [95% interval] | met |", "|---|---|---|"]
    lines += [
        f"| {c['target']} | {with_interval(c['measured'], c['interval'])} | {'yes' if c['met'] else '**no**'} |"
        for c in record["acceptance"]
    ]
    return "\n".join(lines) + "\n"


def _per_class(record: dict[str, Any]) -> str:
    test = record["metrics"]["float"][LEAK_FREE_TEST]
    lines = [
        f"## Per class: float model, {images_label(LEAK_FREE_TEST, test)}",
        "",
        "| class | precision | recall [95% interval] | F1 | ROC-AUC | support |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {name} | {s['precision']:.4f} | {with_interval(s['recall'], test['intervals']['recall'][name])} | "
        f"{s['f1']:.4f} | {s['roc_auc']:.4f} | {s['support']} |"
        for name, s in test["per_class"].items()
    ]
    lines += ["", f"Confusion matrix (rows true, columns predicted, in the order above): `{test['confusion_matrix']}`"]
    return "\n".join(lines) + "\n"


def _seeds(seeds: dict[str, Any]) -> str:
    lines = [
        "## Spread over seeds (leak-free test split)",
        "",
        "| run | seed | model | images | accuracy [95% interval] | macro-F1 [95% interval] |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for row in seeds["runs"]:
        test = row["test"]
        lines.append(
            f"| {row['run']} | {row['seed']} | {row['model']} | {test['count']} | "
            f"{with_interval(test['accuracy'], test['intervals']['accuracy'])} | "
            f"{with_interval(test['macro_f1'], test['intervals']['macro_f1'])} |"
        )
    lines += ["", "| model | score | mean ± sd (range), 95% interval of the mean |", "|---|---|---|"]
    for model, scores in seeds["spread"].items():
        for score, summary in scores.items():
            lines.append(f"| {model} | {score} | {Spread.from_record(summary).summary()} |")
    lines += ["", SPREAD_CAVEAT]
    return "\n".join(lines) + "\n"


def _time(record: dict[str, Any]) -> str:
    process = record["process"]
    lines = ["## Time on this machine", ""]
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
    parser.add_argument(
        "run",
        type=Path,
        nargs="+",
        help="a finished brainedge-train run directory; several runs of one recipe (other seeds) add the "
        "spread over seeds, the first is described in detail",
    )
    parser.add_argument(
        "--log", type=Path, help="the run's console log, for /usr/bin/time -v's wall clock and peak RSS"
    )
    parser.add_argument("--command", required=True, help="the command that trained the run")
    parser.add_argument("--out", type=Path, required=True, help="output path without suffix")
    args = parser.parse_args(argv)
    try:
        outputs = record_paths(args.out)
        record = build_record(args.run[0], args.log, args.command)
        if len(args.run) > 1:
            record["seeds"] = seed_spread(args.run)
        write_record(outputs, record, markdown)
    except (BrainEdgeError, OSError, ValueError, KeyError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
