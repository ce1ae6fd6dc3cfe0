"""Can a bundle's answers be taken at their word? The issue-17 record, with intervals.

Per bundle, on the held-out test split of the run's manifest (leaked images left out):
calibration before and after the bundle's temperature (ECE with a bootstrap interval, NLL,
Brier), the referral operating point (coverage, accuracy of the accepted answers, Wilson
interval), the share of test images refused as out-of-distribution; on an OOD image set
(``python -m brainedge.benchmarks.studies.ood_set``) the share refused per group; and what
the head and the OOD score cost per image on this machine.

usage: python -m brainedge.benchmarks.studies.answers_report EXPORT_DIR --manifest MANIFEST
           --ood-set OOD_DIR --command "..." --out benchmarks/results/answers_NAME
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from brainedge.benchmarks.answers import load_ood_set
from brainedge.benchmarks.runner import head_latencies, invoke_latencies
from brainedge.benchmarks.studies import record_paths
from brainedge.edge_runtime.bundle import Bundle, find_bundles
from brainedge.edge_runtime.calibration import accepted_answers, calibration_scores, reliability_bins
from brainedge.edge_runtime.engine import Engine
from brainedge.edge_runtime.errors import BrainEdgeError, report_user_errors
from brainedge.edge_runtime.files import write_text_atomically
from brainedge.edge_runtime.head import beyond_threshold, softmax
from brainedge.edge_runtime.manifest import read_manifest
from brainedge.edge_runtime.metrics import wilson_interval
from brainedge.edge_runtime.preprocess import decode_rgb, to_input_tensor
from brainedge.edge_runtime.scoring import labelled_split, score_predictions

TARGETS = {"ece_after": 0.02, "ood_flagged": 0.95, "test_flagged": 0.02, "accepted_accuracy": 0.993, "ood_ms": 0.5}
JUDGED = ("tflite_float32", "tflite_int8_ptq", "tflite_int8_qat")
BOOTSTRAP = 1000


def bootstrap_interval(statistic: Callable[[np.ndarray], float], count: int, seed: int = 0) -> tuple[float, float]:
    """2.5th and 97.5th percentiles of ``statistic`` over resamples of image indices."""
    rng = np.random.default_rng(seed)
    values = [statistic(rng.integers(0, count, count)) for _ in range(BOOTSTRAP)]
    return (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5)))


def test_split(manifest_path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """The test split's decoded images, shared by every bundle, and their labels."""
    split = labelled_split(read_manifest(manifest_path), "test")
    if not split.paths:
        raise BrainEdgeError(f"{manifest_path}: no test images")
    return [decode_rgb(path) for path in split.paths], split.labels


def score_bundle(
    bundle: Bundle, images: list[np.ndarray], labels: np.ndarray, groups: dict[str, list[Path]]
) -> dict[str, Any]:
    classifier = Engine.from_bundle(bundle, threads=1)
    outputs = [classifier.run(to_input_tensor(image, classifier.input_spec), calibrated=False) for image in images]
    logits = np.concatenate([o.logits for o in outputs])
    scores = np.concatenate([o.ood_scores for o in outputs])
    metadata = bundle.metadata
    temperature = metadata.calibration.temperature
    before, after = softmax(logits), softmax(logits, temperature)
    scored = score_predictions(after.argmax(axis=1), labels)
    flagged = beyond_threshold(scores, metadata.out_of_distribution.threshold)
    accepted = accepted_answers(after.max(axis=1), flagged, metadata.confidence_threshold)
    accepted_score = score_predictions(scored.predictions[accepted], labels[accepted])
    refused = {
        name: [classifier.classify(path).out_of_distribution for path in paths] for name, paths in groups.items()
    }
    return {
        "bundle": bundle.name,
        "temperature": temperature,
        "test_images": len(labels),
        "accuracy": scored.accuracy,
        "before": calibration_scores(before, labels),
        "after": calibration_scores(after, labels),
        "ece_after_interval": bootstrap_interval(
            lambda i: reliability_bins(after[i], labels[i]).expected_calibration_error, len(labels)
        ),
        "ece_change_interval": bootstrap_interval(
            lambda i: (
                reliability_bins(after[i], labels[i]).expected_calibration_error
                - reliability_bins(before[i], labels[i]).expected_calibration_error
            ),
            len(labels),
        ),
        "referral": {
            "threshold": metadata.confidence_threshold,
            "target_accuracy": metadata.referral.target_accuracy if metadata.referral else None,
            "validation_coverage": metadata.referral.validation_coverage if metadata.referral else None,
            "coverage": float(accepted.mean()),
            "accepted": int(accepted.sum()),
            "accepted_accuracy": accepted_score.accuracy,
            "accepted_accuracy_interval": accepted_score.accuracy_interval,
        },
        "test_flagged": float(flagged.mean()),
        "test_flagged_interval": wilson_interval(int(flagged.sum()), len(flagged)),
        "test_flagged_by_class": {
            name: {"images": int((labels == c).sum()), "flagged": int(flagged[labels == c].sum())}
            for c, name in enumerate(bundle.class_names)
        },
        "ood_groups": {name: {"images": len(v), "flagged": int(sum(v))} for name, v in refused.items()},
        "cost_ms": head_cost(classifier, images[0]),
    }


def head_cost(classifier: Engine, image: np.ndarray) -> dict[str, float]:
    """Median ms per image of the whole head (pooling, dense layers, OOD), the OOD distance alone, the invoke."""
    batch = to_input_tensor(image, classifier.input_spec)
    head_ms, ood_ms = head_latencies(classifier, batch)
    return {
        "head_ms": head_ms,
        "ood_ms": ood_ms,
        "invoke_ms": float(np.median(invoke_latencies(classifier, batch, 200, 20))),
    }


def acceptance(rows: list[dict[str, Any]], kinds: dict[str, str]) -> list[dict[str, Any]]:
    """Each issue-17 target: met by the point estimate, and whether its 95% interval clears it too."""
    checks = []
    for row in (r for r in rows if r["bundle"] in JUDGED):
        name, before, after = row["bundle"], row["before"]["ece"], row["after"]["ece"]
        low, high = row["ece_after_interval"]
        change_low, change_high = row["ece_change_interval"]
        checks.append(
            {
                "target": f"{name}: test ECE after calibration <= {TARGETS['ece_after']} and below before",
                "measured": f"{after:.4f} (95% bootstrap {low:.4f}-{high:.4f}); before {before:.4f}, change "
                f"{after - before:+.4f} (95% {change_low:+.4f} to {change_high:+.4f})",
                "met": after <= TARGETS["ece_after"] and after < before,
                "confident": high <= TARGETS["ece_after"] and change_high < 0,
            }
        )
        ood = [g for g, kind in kinds.items() if kind == "ood"]
        flagged = sum(row["ood_groups"][g]["flagged"] for g in ood)
        total = sum(row["ood_groups"][g]["images"] for g in ood)
        low, high = wilson_interval(flagged, total)
        checks.append(
            {
                "target": f"{name}: >= {TARGETS['ood_flagged']:.0%} of the OOD set refused",
                "measured": f"{flagged}/{total} = {flagged / total:.1%} (95% {low:.1%}-{high:.1%})",
                "met": flagged / total >= TARGETS["ood_flagged"],
                "confident": low >= TARGETS["ood_flagged"],
            }
        )
        low, high = row["test_flagged_interval"]
        checks.append(
            {
                "target": f"{name}: <= {TARGETS['test_flagged']:.0%} of the test split refused",
                "measured": f"{row['test_flagged']:.2%} (95% {low:.2%}-{high:.2%})",
                "met": row["test_flagged"] <= TARGETS["test_flagged"],
                "confident": high <= TARGETS["test_flagged"],
            }
        )
        referral = row["referral"]
        low, high = referral["accepted_accuracy_interval"]
        checks.append(
            {
                "target": f"{name}: accepted test answers >= {TARGETS['accepted_accuracy']:.1%} accurate",
                "measured": f"{referral['accepted_accuracy']:.2%} (95% {low:.2%}-{high:.2%}) at coverage "
                f"{referral['coverage']:.1%}",
                "met": referral["accepted_accuracy"] >= TARGETS["accepted_accuracy"],
                "confident": low >= TARGETS["accepted_accuracy"],
            }
        )
        cost = row["cost_ms"]
        met = cost["ood_ms"] <= TARGETS["ood_ms"]
        checks.append(
            {
                "target": f"{name}: OOD score <= {TARGETS['ood_ms']} ms per image",
                "measured": f"{cost['ood_ms']:.3f} ms (whole head {cost['head_ms']:.3f} ms; "
                f"invoke {cost['invoke_ms']:.2f} ms)",
                "met": met,
                "confident": met,  # a median of 200 timings; machine-to-machine spread is far larger than its own
            }
        )
    return checks


def markdown(rows: list[dict[str, Any]], kinds: dict[str, str], checks: list[dict[str, Any]], command: str) -> str:
    groups = list(kinds)
    lines = [
        "# Answers a clinician can weigh: calibration, refusal, referral (issue 17)",
        "",
        "Command:",
        "",
        "```",
        command,
        "```",
        "",
        f"Test split: {rows[0]['test_images']} images with no near-duplicate in train or val. ECE: 15 equal-width "
        "bins of the top-1 probability; 'before' is the bundle's softmax at temperature 1, 'after' with the "
        "temperature fitted on the validation split. Intervals are 95% (bootstrap over test images for ECE, "
        "Wilson for shares).",
        "",
        "| bundle | T | accuracy | ECE before → after | NLL before → after | Brier before → after | "
        "referral threshold | coverage | accepted accuracy | test refused as OOD |",
        "|---|---:|---:|---|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        b, a, r = row["before"], row["after"], row["referral"]
        lines.append(
            f"| {row['bundle']} | {row['temperature']:.3f} | {row['accuracy']:.4f} | {b['ece']:.4f} → {a['ece']:.4f} | "
            f"{b['nll']:.4f} → {a['nll']:.4f} | {b['brier']:.4f} → {a['brier']:.4f} | {r['threshold']:.4f} | "
            f"{r['coverage']:.1%} | {r['accepted_accuracy']:.2%} ({r['accepted']}) | {row['test_flagged']:.2%} |"
        )
    lines += [
        "",
        "Out-of-distribution set: images refused per group (kind 'near' = synthetic MRI-like slices, reported "
        "apart from true OOD).",
        "",
        "| bundle | " + " | ".join(f"{g} ({kinds[g]})" for g in groups) + " | head ms | OOD ms |",
        "|---|" + "---:|" * (len(groups) + 2),
    ]
    for row in rows:
        cells = [f"{row['ood_groups'][g]['flagged']}/{row['ood_groups'][g]['images']}" for g in groups]
        cost = row["cost_ms"]
        lines.append(f"| {row['bundle']} | " + " | ".join(cells) + f" | {cost['head_ms']:.3f} | {cost['ood_ms']:.3f} |")
    lines += ["", "Test images refused as out-of-distribution, by true class:", ""]
    for row in rows:
        by_class = row["test_flagged_by_class"]
        lines.append(
            f"- {row['bundle']}: "
            + "; ".join(
                f"{name} {v['flagged']}/{v['images']} ({v['flagged'] / v['images']:.1%})"
                for name, v in by_class.items()
            )
        )
    lines += [
        "",
        "## Acceptance (issue 17)",
        "",
        "'met': the measured value reaches the target; 'with 95% confidence': its interval does too (with 56 OOD "
        "images, even 56/56 has a lower bound of 93.6%, so that column cannot say yes for the OOD set).",
        "",
        "| target | measured | met | with 95% confidence |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {c['target']} | {c['measured']} | {'yes' if c['met'] else '**no**'} | {'yes' if c['confident'] else 'no'} |"
        for c in checks
    ]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    outputs = record_paths(args.out)
    bundles = [Bundle.open(path) for path in find_bundles([args.export_dir])]
    bundles = [bundle for bundle in bundles if bundle.metadata.out_of_distribution is not None]
    if not bundles:
        raise BrainEdgeError(f"{args.export_dir}: no bundle with calibration and an out-of-distribution model")
    ood_set = load_ood_set(args.ood_set)
    groups = {name: [p for p, g in zip(ood_set.paths, ood_set.groups) if g == name] for name in ood_set.group_names}
    kinds = {name: kind or "unlisted" for name, kind in ood_set.kinds.items()}
    images, labels = test_split(args.manifest)
    rows = []
    for bundle in bundles:
        print(f"[{bundle.name}] {len(labels)} test images, {sum(map(len, groups.values()))} OOD images", flush=True)
        rows.append(score_bundle(bundle, images, labels, groups))
    checks = acceptance(rows, kinds)
    text = markdown(rows, kinds, checks, args.command)
    record = {"command": args.command, "groups": kinds, "bundles": rows, "acceptance": checks}
    write_text_atomically(outputs[".json"], json.dumps(record, indent=2) + "\n")
    write_text_atomically(outputs[".md"], text)
    print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m brainedge.benchmarks.studies.answers_report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("export_dir", type=Path)
    parser.add_argument("--manifest", type=Path, required=True, help="the run's manifest (its test split is used)")
    parser.add_argument("--ood-set", type=Path, required=True, help="folder written by studies.ood_set")
    parser.add_argument("--command", required=True, help="the command that produced the bundles, for the record")
    parser.add_argument("--out", type=Path, required=True, help="output path without suffix (.md and .json)")
    return report_user_errors(run, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
