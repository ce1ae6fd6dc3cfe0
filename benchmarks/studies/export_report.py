"""Turn an export_report.json into the issue-5 benchmark record: table + acceptance, .md and .json.

usage: python -m brainedge.benchmarks.studies.export_report OUT/export_report.json --command "..."
           --out benchmarks/results/export_NAME
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

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
                    "measured": f"{0.0 - drop:+.2f} points",
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


def _model_bytes(row: dict[str, Any]) -> int:
    """The model file alone; reports from before bundles had a head file only have size_bytes."""
    return row.get("model_bytes", row["size_bytes"])


def markdown(rows: list[dict[str, Any]], checks: list[dict[str, Any]], command: str, title: str) -> str:
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
        f"Verified through the edge runtime on the **{first['split']}** split ({first['count']} images); "
        f"float32 reference = the Keras float model, accuracy {first['float_reference_accuracy']:.4f}.",
        "",
        "| variant | bundle size (MB, model + head) | accuracy | Δ vs float32 (points) | agreement with float32 | "
        "agreement with its Keras source | mean abs Δp | max abs Δp | source agreement ≥ threshold |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['variant']} | {row['size_bytes'] / 1e6:.3f} | {row['accuracy']:.4f} | "
            f"{0.0 - row['accuracy_drop_points']:+.2f} | {row['float_agreement']:.4f} | "
            f"{row['agreement']:.4f} ({row['reference']}) | {row['mean_abs_diff']:.5f} | "
            f"{row['max_abs_diff']:.4f} | {'yes' if row['passed'] else 'no'} |"
        )
    lines += ["", "## Acceptance (issue 5)", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {c['target']} | {c['measured']} | {'yes' if c['met'] else '**no**'} |" for c in checks]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m brainedge.benchmarks.studies.export_report", description=__doc__)
    parser.add_argument("report", type=Path, help="export_report.json written by brainedge-export")
    parser.add_argument("--command", required=True, help="the export command that produced it")
    parser.add_argument("--out", type=Path, required=True, help="output path without suffix")
    parser.add_argument("--title", default="Export: every variant against the float model")
    args = parser.parse_args(argv)
    try:
        rows = json.loads(args.report.read_text())
    except (OSError, json.JSONDecodeError) as error:
        print(f"error: {args.report}: {error}", file=sys.stderr)
        return 2
    checks = acceptance({row["variant"]: row for row in rows})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(
        json.dumps({"command": args.command, "variants": rows, "acceptance": checks}, indent=2) + "\n"
    )
    text = markdown(rows, checks, args.command, args.title)
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
