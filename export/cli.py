"""brainedge-export: turn a training run into verified model bundles, one per variant.

Every bundle is checked on the validation split through the edge runtime against the
Keras model it came from; one whose top-1 agreement falls below --min-agreement is not
kept and the command fails. An int8 variant that loses more than --debug-threshold
accuracy points against the float model gets a per-layer quantization error report
(quantization_debug.md in its bundle).

Each bundle's answers are then qualified from its own outputs: a temperature fitted on the
validation split calibrates its probabilities, an out-of-distribution model fitted on
training images (threshold set to refuse --ood-rejection of the validation images) lets it
say "not recognised", and --target-accuracy chooses the lowest confidence threshold whose
accepted validation answers reach that accuracy (below it: "uncertain — refer for review").
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from brainedge.edge_runtime.cli_help import DefaultsHelpFormatter
from brainedge.edge_runtime.errors import OneLineParser
from brainedge.edge_runtime.variants import VARIANT_NAMES
from brainedge.export.settings import DEFAULTS, IO_DTYPES, VERIFY_SPLITS, ExportSettings
from brainedge.train.stack import add_verbose_option, run_training_command


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="brainedge-export", description=__doc__, formatter_class=DefaultsHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a brainedge-train run directory")
    parser.add_argument("--out", type=Path, help="where bundles go (default: RUN_DIR/export)")
    parser.add_argument(
        "--variants",
        "--formats",  # its earlier name: the commands in older records still run
        dest="variants",
        nargs="+",
        default=list(DEFAULTS.variants),
        help=f"any of {', '.join(VARIANT_NAMES)}, or 'all' (default: {' '.join(DEFAULTS.variants)})",
    )
    parser.add_argument(
        "--representative",
        type=int,
        default=DEFAULTS.representative,
        help="training images that calibrate int8 variants",
    )
    parser.add_argument(
        "--io-dtype",
        choices=IO_DTYPES,
        default=DEFAULTS.io_dtype,
        help="input/output type of full-integer int8 TFLite models",
    )
    parser.add_argument(
        "--verify-split",
        default=DEFAULTS.verify_split,
        choices=VERIFY_SPLITS,
        help="manifest split to verify on (test leaves out leaked images)",
    )
    parser.add_argument("--verify-limit", type=int, default=DEFAULTS.verify_limit, help="verify on at most N images")
    parser.add_argument(
        "--min-agreement",
        type=float,
        default=DEFAULTS.min_agreement,
        help=f"fail below this top-1 agreement with Keras (default {DEFAULTS.min_agreement})",
    )
    parser.add_argument(
        "--debug-threshold",
        type=float,
        default=DEFAULTS.debug_threshold,
        help="accuracy points an int8 variant may lose before a per-layer report (negative: always report)",
    )
    parser.add_argument(
        "--target-accuracy",
        type=float,
        default=DEFAULTS.target_accuracy,
        help="set the referral threshold: the lowest confidence whose accepted validation answers "
        "reach this accuracy, e.g. 0.995 (default: a fixed 0.5)",
    )
    parser.add_argument(
        "--ood-rejection",
        type=float,
        default=DEFAULTS.ood_rejection,
        help=f"share of validation images the out-of-distribution threshold refuses (default {DEFAULTS.ood_rejection})",
    )
    parser.add_argument(
        "--ood-train-images",
        type=int,
        default=DEFAULTS.ood_train_images,
        help=f"training images the out-of-distribution model is fitted on (default {DEFAULTS.ood_train_images})",
    )
    parser.add_argument(
        "--ood-components",
        type=int,
        default=DEFAULTS.ood_components,
        help=f"principal feature directions the out-of-distribution model keeps (default {DEFAULTS.ood_components})",
    )
    add_verbose_option(parser)
    return parser


def settings_from_args(args: argparse.Namespace) -> ExportSettings:
    """The options are named after the settings' fields, so they map one to one."""
    values = {field.name: getattr(args, field.name) for field in dataclasses.fields(ExportSettings)}
    return ExportSettings(**{**values, "variants": tuple(args.variants)})


def print_table(results: list[dict[str, Any]], failure: str = "not kept") -> None:
    print(
        f"{'variant':<22}{'size':>10}{'accuracy':>10}{'Δ float':>9}{'agree src':>11}{'agree f32':>11}"
        f"{'max |Δp|':>10}  status"
    )
    for row in results:
        status = "ok" if row["passed"] else f"FAILED (< {row['min_agreement']:.2f} agreement; {failure})"
        if not row.get("decided_count", 1):
            status = "UNVERIFIED: the Keras model's top two classes are within 0.01 on every image (undertrained?)"
        elif undecided := row["count"] - row.get("decided_count", row["count"]):
            status += f"; {undecided} near-tied image(s) not judged"
        print(
            f"{row['variant']:<22}{row['size_bytes'] / 1e6:>8.2f}MB{row['accuracy']:>10.4f}"
            f"{0.0 - row['accuracy_drop_points']:>+9.2f}{row['agreement']:>11.4f}{row['float_agreement']:>11.4f}"
            f"{row['max_abs_diff']:>10.4f}  {status}"
        )
    if results:
        print(
            f"(accuracy on {results[0]['count']} {results[0]['split']} images; Keras float accuracy "
            f"{results[0]['float_reference_accuracy']:.4f}; 'agree src' is top-1 agreement with the Keras "
            "model the variant came from, 'agree f32' with the float Keras model; pass/fail counts the images "
            "where the Keras model's top two classes differ by at least 0.01)"
        )


def run(args: argparse.Namespace) -> int:
    from brainedge.export.exporter import export_run

    results = export_run(args.run_dir, args.out or args.run_dir / "export", settings_from_args(args))
    print_table(results)
    unverified = [row["variant"] for row in results if row["passed"] and not row.get("decided_count", 1)]
    if unverified:
        print(
            f"warning: {', '.join(unverified)} kept but not verified: the Keras model decided none of the "
            f"{results[0]['count']} images (train longer, or verify on more images)",
            file=sys.stderr,
        )
    if any(not row.get("calibration_val", {}).get("val_held_out", True) for row in results):
        print(
            f"warning: {args.run_dir} was trained on its validation images (--refit): validation figures, the "
            "temperature and the not-recognised and referral thresholds are measured on trained images and are "
            "optimistic",
            file=sys.stderr,
        )
    failed = [row["variant"] for row in results if not row["passed"]]
    if failed:
        print(f"error: {', '.join(failed)} disagreed with the Keras model; see the table", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_training_command("brainedge-export", run, args)
