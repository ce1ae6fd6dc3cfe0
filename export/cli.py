"""brainedge-export: turn a training run into verified model bundles, one per variant.

Every bundle is checked on the validation split through the edge runtime against the
Keras model it came from; one whose top-1 agreement falls below --min-agreement is
removed and the command fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edge_runtime.errors import BrainEdgeError
from export.formats import DEFAULT_FORMATS, FORMATS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="brainedge-export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a brainedge-train run directory")
    parser.add_argument("--out", type=Path, help="where bundles go (default: RUN_DIR/export)")
    parser.add_argument("--formats", nargs="+", default=list(DEFAULT_FORMATS),
                        help=f"any of {', '.join(FORMATS)}, or 'all'")
    parser.add_argument("--representative", type=int, default=200,
                        help="training images that calibrate int8 variants")
    parser.add_argument("--io-dtype", choices=("uint8", "int8", "float32"), default="uint8",
                        help="input/output type of full-integer int8 models")
    parser.add_argument("--verify-split", default="val", help="manifest split to verify on")
    parser.add_argument("--verify-limit", type=int, default=None, help="verify on at most N images")
    parser.add_argument("--min-agreement", type=float, default=None,
                        help="fail below this top-1 agreement with Keras (default 0.97)")
    return parser


def print_table(results: list[dict[str, Any]]) -> None:
    print(f"{'variant':<15}{'size':>10}{'accuracy':>10}{'keras acc':>11}{'agreement':>11}"
          f"{'max |Δp|':>10}  status")
    for row in results:
        status = "ok" if row["passed"] else f"FAILED (< {row['min_agreement']:.2f} agreement; removed)"
        print(f"{row['variant']:<15}{row['size_bytes'] / 1e6:>8.2f}MB{row['accuracy']:>10.4f}"
              f"{row['reference_accuracy']:>11.4f}{row['agreement']:>11.4f}{row['max_abs_diff']:>10.4f}  {status}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from export.exporter import export_run

        results = export_run(args.run_dir, args.out or args.run_dir / "export", args.formats,
                             representative=args.representative, io_dtype=args.io_dtype,
                             verify_split=args.verify_split, verify_limit=args.verify_limit,
                             min_agreement=args.min_agreement)
    except BrainEdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print_table(results)
    failed = [row["variant"] for row in results if not row["passed"]]
    if failed:
        print(f"error: {', '.join(failed)} disagreed with the Keras model; see the table", file=sys.stderr)
        return 1
    return 0
