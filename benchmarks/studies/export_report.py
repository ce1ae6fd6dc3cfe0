"""Turn an export_report.json (or export.evaluate's rows) into the issue-5 benchmark record: table +
acceptance, .md and .json. Every accuracy with its 95% interval; every bundle against the float Keras
model on the same images: the answers that flipped each way and the exact McNemar p-value. Given the
reports of several runs of one recipe (other seeds), the spread of each variant's scores over them.

usage: python -m brainedge.benchmarks.studies.export_report OUT/export_report.json --command "..."
           --out benchmarks/results/export_NAME
       python -m brainedge.benchmarks.studies.export_report SEED0.json SEED1.json SEED2.json --command ... --out ...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from brainedge.benchmarks.studies import record_paths, write_record
from brainedge.benchmarks.studies.stats import SPREAD_CAVEAT, Spread, spread
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.metrics import wilson_interval, with_interval
from brainedge.train.scoring import images_label

MAX_INT8_TFLITE_BYTES = 2.7e6
TARGETS = {"tflite_int8_ptq": 0.5, "tflite_int8_qat": 0.3}
"""Accuracy points each int8 TFLite variant may lose against float32."""
MIN_INT8_AGREEMENT = 0.99


def acceptance(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target of issue 5 with the measured value and whether it is met."""
    checks = []
    for name, allowed in TARGETS.items():
        if name in rows:
            drop = rows[name]["accuracy_drop_points"]
            checks.append(
                {
                    "target": f"{name} accuracy within {allowed} points of float32",
                    "measured": f"{0.0 - drop:+.2f} points{_flips_text(rows[name])}",
                    "met": drop <= allowed,
                }
            )
            agreement = rows[name]["float_agreement"]
            checks.append(
                {
                    "target": f"{name} top-1 agreement with float32 >= {MIN_INT8_AGREEMENT:.0%}",
                    "measured": f"{agreement:.2%}",
                    "met": agreement >= MIN_INT8_AGREEMENT,
                }
            )
            size = _model_bytes(rows[name])
            checks.append(
                {
                    "target": f"{name} file <= {MAX_INT8_TFLITE_BYTES / 1e6} MB",
                    "measured": f"{size / 1e6:.3f} MB ({size / 2**20:.3f} MiB)",
                    "met": size <= MAX_INT8_TFLITE_BYTES,
                }
            )
    if "tflite_float16" in rows and "tflite_float32" in rows:
        ratio = _model_bytes(rows["tflite_float16"]) / _model_bytes(rows["tflite_float32"])
        checks.append(
            {
                "target": "float16 about half of float32 (0.45-0.55)",
                "measured": f"{ratio:.3f}",
                "met": 0.45 <= ratio <= 0.55,
            }
        )
    return checks


def _flips_text(row: dict[str, Any]) -> str:
    """`` (3 right→wrong, 0 wrong→right, McNemar p = 0.25)``; nothing for rows from before flips were counted."""
    flips = row.get("float_flips")
    if flips is None:
        return ""
    return (
        f" ({flips['right_to_wrong']} right→wrong, {flips['wrong_to_right']} wrong→right, "
        f"McNemar p = {flips['mcnemar_p']:.3g})"
    )


def accuracy_interval(row: dict[str, Any], key: str = "accuracy") -> list[float]:
    """The stored 95% interval; rows from before intervals get Wilson's from their count, as export would."""
    stored = row.get(f"{key}_interval")
    return stored if stored is not None else list(wilson_interval(round(row[key] * row["count"]), row["count"]))


def seed_spread(reports: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """Per variant present in every report: the spread of its accuracy, and of its points against float."""
    tables = [{row["variant"]: row for row in report} for report in reports]
    variants = [row["variant"] for row in reports[0] if all(row["variant"] in table for table in tables)]
    return {
        "runs": len(reports),
        "variants": {
            variant: {
                "accuracy": spread([table[variant]["accuracy"] for table in tables]).record(),
                "points_vs_float": spread([0.0 - table[variant]["accuracy_drop_points"] for table in tables]).record(),
            }
            for variant in variants
        },
    }


def _model_bytes(row: dict[str, Any]) -> int:
    """The model file alone; reports from before bundles had a head file only have size_bytes."""
    return row.get("model_bytes", row["size_bytes"])


def markdown(
    rows: list[dict[str, Any]], checks: list[dict[str, Any]], command: str, title: str, seeds: dict | None = None
) -> str:
    first = rows[0]
    lines = [
        f"# {title}",
        "",
        "Command:",
        "",
        "```",
        command,
        "```",
        "",
        f"Verified through the edge runtime on the **{first['split']}** split, {_images(first)}; float32 "
        "reference = the Keras float model, accuracy "
        f"{with_interval(first['float_reference_accuracy'], accuracy_interval(first, 'float_reference_accuracy'))}. "
        "Intervals: 95%, Wilson. Flips: the images the float Keras model answers right and the variant wrong "
        "(right→wrong) and the reverse, on the same images; McNemar: exact two-sided binomial test of those "
        "flips against an even split (a small p: the variant's accuracy really differs from float's).",
        "",
        "| variant | bundle size (MB, model + head) | accuracy [95% interval] | Δ vs float32 (points) | "
        "flips vs float (right→wrong / wrong→right, McNemar p) | agreement with float32 | "
        "agreement with its Keras source | mean abs Δp | max abs Δp | source agreement ≥ threshold |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        flips = row.get("float_flips")
        flipped = (
            "—"
            if flips is None
            else (f"{flips['right_to_wrong']} / {flips['wrong_to_right']}, p = {flips['mcnemar_p']:.3g}")
        )
        lines.append(
            f"| {row['variant']} | {row['size_bytes'] / 1e6:.3f} | "
            f"{with_interval(row['accuracy'], accuracy_interval(row))} | "
            f"{0.0 - row['accuracy_drop_points']:+.2f} | {flipped} | {row['float_agreement']:.4f} | "
            f"{row['agreement']:.4f} ({row['reference']}) | {row['mean_abs_diff']:.5f} | "
            f"{row['max_abs_diff']:.4f} | {'yes' if row['passed'] else 'no'} |"
        )
    lines += ["", "## Acceptance (issue 5)", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {c['target']} | {c['measured']} | {'yes' if c['met'] else '**no**'} |" for c in checks]
    if seeds:
        lines += ["", _seeds(seeds)]
    return "\n".join(lines) + "\n"


def _images(row: dict[str, Any]) -> str:
    """Which images: ``857 leak-free test images (450 near-duplicates of training images left out)``."""
    if "leaked_left_out" in row:
        return images_label(row["split"], row)
    return f"{row['count']} images"


def _seeds(seeds: dict[str, Any]) -> str:
    lines = [
        f"## Spread over {seeds['runs']} runs",
        "",
        "| variant | accuracy: mean ± sd (range), 95% interval of the mean | Δ vs float32 (points), the same |",
        "|---|---|---|",
    ]
    for variant, scores in seeds["variants"].items():
        accuracy = Spread.from_record(scores["accuracy"]).summary()
        points = Spread.from_record(scores["points_vs_float"]).summary(2)
        lines.append(f"| {variant} | {accuracy} | {points} |")
    lines += ["", SPREAD_CAVEAT]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m brainedge.benchmarks.studies.export_report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "report",
        type=Path,
        nargs="+",
        help="export_report.json written by brainedge-export, or export.evaluate's rows; several runs of one "
        "recipe (other seeds) add the spread over them, the first is described in detail",
    )
    parser.add_argument("--command", required=True, help="the export command that produced it")
    parser.add_argument("--out", type=Path, required=True, help="output path without suffix")
    parser.add_argument("--title", default="Export: every variant against the float model")
    args = parser.parse_args(argv)
    reports = []
    for path in args.report:
        try:
            reports.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as error:
            print(f"error: {path}: {error}", file=sys.stderr)
            return 2
    rows = reports[0]
    checks = acceptance({row["variant"]: row for row in rows})
    seeds = seed_spread(reports) if len(reports) > 1 else None
    record = {"command": args.command, "variants": rows, "acceptance": checks}
    try:
        write_record(
            record_paths(args.out),
            {**record, **({"seeds": seeds} if seeds else {})},
            lambda _: markdown(rows, checks, args.command, args.title, seeds),
        )
    except BrainEdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
