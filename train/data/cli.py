"""brainedge-data: audit a class-per-folder dataset for leaks and split it so that nothing leaks.

brainedge-data audit ROOT [ROOT2 ...] --out audit/     # report.md + audit.json + plots
brainedge-data audit --manifest split.csv --fail-on-leak  # prove a split is leak-free
brainedge-data split ROOT --out split.csv [--binary notumor] [--seed 0]
brainedge-data weights split.csv                         # class weights for training
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

from brainedge.edge_runtime.cli_help import DefaultsHelpFormatter
from brainedge.edge_runtime.errors import BrainEdgeError, OneLineParser, check_number, report_user_errors
from brainedge.edge_runtime.files import check_results_folder, output_lock, shown
from brainedge.edge_runtime.manifest import SPLITS, Manifest, check_images_present, class_weights, read_manifest
from brainedge.train.data.audit import manifest_dataset, run_audit, summarize
from brainedge.train.data.duplicates import DEFAULT_THRESHOLD
from brainedge.train.data.loading import binary_mapping, load_roots, read_mapping
from brainedge.train.data.report import JSON_FILE as AUDIT_JSON
from brainedge.train.data.report import OUTPUT_FILES as AUDIT_FILES
from brainedge.train.data.report import write_report
from brainedge.train.data.split import make_split


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threshold",
        type=int,
        default=DEFAULT_THRESHOLD,
        help=f"near-duplicate Hamming distance of 256-bit hashes (default {DEFAULT_THRESHOLD})",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="processes for hashing (default: 2, or 1 on a single core)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_mapping(parser: argparse.ArgumentParser) -> None:
    mapping = parser.add_mutually_exclusive_group()
    mapping.add_argument(
        "--binary",
        metavar="NEGATIVE",
        help="two classes: NEGATIVE (e.g. notumor) against all others, named by --positive",
    )
    mapping.add_argument(
        "--mapping",
        type=Path,
        metavar="FILE",
        help="class mapping: JSON object or 'source,target' lines; '*' means all other classes",
    )
    parser.add_argument("--positive", default="tumor", help="name of the merged class for --binary (default tumor)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="brainedge-data", description=__doc__, formatter_class=DefaultsHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    audit = commands.add_parser(
        "audit", help="report classes, unreadable files and duplicates", formatter_class=DefaultsHelpFormatter
    )
    audit.add_argument(
        "roots", nargs="*", type=Path, help="dataset roots (class folders inside, or Kaggle Training/ + Testing/)"
    )
    audit.add_argument("--manifest", type=Path, help="audit the splits of a manifest instead of roots")
    audit.add_argument(
        "--out", type=Path, default=Path("brainedge-audit"), help="report folder (default ./brainedge-audit)"
    )
    audit.add_argument(
        "--fail-on-leak", action="store_true", help="exit 1 when any near-duplicate crosses parts/splits"
    )
    _add_common(audit)
    _add_mapping(audit)

    split = commands.add_parser(
        "split", help="write a leak-free, stratified train/val/test manifest", formatter_class=DefaultsHelpFormatter
    )
    split.add_argument("root", type=Path, help="dataset root")
    split.add_argument("--out", type=Path, required=True, help="manifest CSV to write")
    split.add_argument("--val", type=float, default=0.15, help="validation fraction (default 0.15)")
    split.add_argument(
        "--test", type=float, default=0.15, help="test fraction (default 0.15; unused when a Testing/ folder is kept)"
    )
    split.add_argument("--seed", type=int, default=0)
    split.add_argument(
        "--no-keep-test",
        dest="keep_test",
        action="store_false",
        help="pool a Kaggle Testing/ folder with Training/ and split both afresh",
    )
    _add_common(split)
    _add_mapping(split)

    weights = commands.add_parser(
        "weights", help="print class weights N / (C * n_c) as JSON", formatter_class=DefaultsHelpFormatter
    )
    weights.add_argument("manifest", type=Path)
    weights.add_argument("--split", choices=SPLITS, default="train")
    return parser


def _mapping(args: argparse.Namespace) -> dict[str, str] | None:
    if args.binary:
        return binary_mapping(args.binary, args.positive)
    return read_mapping(args.mapping) if args.mapping else None


def run_audit_command(args: argparse.Namespace) -> int:
    if bool(args.roots) == bool(args.manifest):
        raise BrainEdgeError("give dataset roots or --manifest FILE (one of the two)")
    if args.manifest and (args.binary or args.mapping):
        raise BrainEdgeError("--binary/--mapping apply to roots; a manifest's labels are already mapped")
    check_results_folder(args.out, AUDIT_FILES, AUDIT_JSON, lambda start: b'"schema": "brainedge.audit/' in start)
    with output_lock(args.out, "brainedge-data audit"):
        return _audit(args)


def _audit(args: argparse.Namespace) -> int:
    """run_audit_command's work, while it holds --out."""
    dataset = manifest_dataset(read_checked(args.manifest)) if args.manifest else load_roots(args.roots, _mapping(args))
    audit = run_audit(dataset, threshold=args.threshold, workers=args.workers, progress=not args.quiet)
    facts = summarize(audit)
    report = write_report(audit, facts, args.out)
    near = facts["near_duplicates"]
    print(
        f"{facts['readable_images']} readable images ({len(facts['unreadable'])} unreadable), "
        f"{near['images']} in {near['groups']} near-duplicate groups, "
        f"{near['cross_part_pairs']} cross-part pairs; report: {shown(report)}"
    )
    for warning in facts["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    problem = leak_problem(facts) if args.fail_on_leak else None
    if problem:
        print(f"error: {problem}; see {shown(report)}", file=sys.stderr)
        return 1
    return 0


def leak_problem(facts: dict[str, Any]) -> str | None:
    """Why the audit does not prove the parts leak-free: a leak found, or images it could not compare."""
    if facts["unreadable"]:
        return f"{len(facts['unreadable'])} image(s) could not be read, so the split is not proven leak-free"
    pairs = facts["near_duplicates"]["cross_part_pairs"]
    if pairs:
        return f"{pairs} near-duplicate pair(s) cross parts ({', '.join(facts['parts'])})"
    return None


def read_checked(path: Path) -> Manifest:
    manifest = read_manifest(path)
    check_images_present(manifest, path)
    return manifest


def run_split_command(args: argparse.Namespace) -> int:
    check_number("--seed", args.seed, 0, 2**32 - 1, whole=True)  # numpy's generator takes no negative seed
    manifest = make_split(
        args.root,
        args.out,
        val_fraction=args.val,
        test_fraction=args.test,
        seed=args.seed,
        threshold=args.threshold,
        mapping=_mapping(args),
        progress=not args.quiet,
        keep_test=args.keep_test,
        workers=args.workers,
    )
    counts = {split: len(manifest.split(split)) for split in SPLITS}
    leaked = sum(row.leaked for row in manifest.rows)
    print(
        f"wrote {shown(args.out)}: "
        + ", ".join(f"{split} {count}" for split, count in counts.items())
        + f"; classes {', '.join(manifest.class_names())}"
        + (f"; {leaked} leaked test images flagged" if leaked else "")
    )
    return 0


def run_weights_command(args: argparse.Namespace) -> int:
    manifest = read_manifest(args.manifest)
    names = manifest.class_names()
    weights = class_weights(manifest, args.split)
    print(json.dumps({names[index]: round(weight, 6) for index, weight in weights.items()}, indent=2))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.command == "audit":
        return run_audit_command(args)
    if args.command == "split":
        return run_split_command(args)
    return run_weights_command(args)


def main(argv: list[str] | None = None) -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):  # a file or class name the terminal cannot encode is escaped
        sys.stdout.reconfigure(errors="backslashreplace")
    return report_user_errors(run, build_parser().parse_args(argv))
