"""brainedge-bench: benchmark bundles on labelled data, merge results, import benchmark_model logs.

brainedge-bench export/ --test-set data/manifest.csv --threads 1 2 --out benchmarks/results/desktop
brainedge-bench export/ --test-set data/manifest.csv --ood-set ood/ --out benchmarks/results/desktop
brainedge-bench --merge desktop/results.json pi/results.json --out benchmarks/results/compare
brainedge-bench --import-litert pixel7_int8.txt pixel7_fp32.txt --device-name pixel7 --out results/pixel7
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from brainedge.benchmarks.answers import load_ood_set
from brainedge.benchmarks.dataset import LabelledSet, load_test_set
from brainedge.benchmarks.device import device_record
from brainedge.benchmarks.harness import (
    Settings,
    assemble,
    choose_reference,
    discover_bundles,
    make_run,
    run_matrix,
)
from brainedge.benchmarks.litert_import import import_logs
from brainedge.benchmarks.merge import merge_files
from brainedge.benchmarks.paired import DEFAULT_BLOCK, DEFAULT_PROCESSES, DEFAULT_ROUNDS, DEFAULT_SEED, DEFAULT_SETTLE
from brainedge.benchmarks.report import (
    OUTPUT_FILES,
    REPORT_MD,
    RESULT_JSON,
    is_result_text,
    unreadable_images,
    unreadable_ood_images,
    write_all,
)
from brainedge.benchmarks.rows import BenchRow, rows_of
from brainedge.benchmarks.runner import DEFAULT_RUNS, DEFAULT_WARMUP
from brainedge.edge_runtime.backends import BACKENDS, check_threads
from brainedge.edge_runtime.cli_help import DefaultsHelpFormatter
from brainedge.edge_runtime.errors import BrainEdgeError, OneLineParser, check_number, report_user_errors
from brainedge.edge_runtime.files import check_results_folder, output_lock


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="brainedge-bench", description=__doc__, formatter_class=DefaultsHelpFormatter)
    parser.add_argument("bundles", nargs="*", type=Path, help="bundle directories, or export directories holding them")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--merge",
        nargs="+",
        type=Path,
        metavar="RESULT_JSON",
        help="merge result files from several devices into one report",
    )
    mode.add_argument(
        "--import-litert",
        nargs="+",
        type=Path,
        metavar="LOG",
        help="import text output of LiteRT's benchmark_model tool",
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory (JSON, CSV, report.md, plots)")
    parser.add_argument(
        "--test-set", type=Path, help="labelled images: a class-per-folder directory or a brainedge-data manifest"
    )
    parser.add_argument("--split", default="test", help="manifest split to use (default: test)")
    parser.add_argument(
        "--include-leaked",
        action="store_true",
        help="keep manifest test images that have a near-duplicate in train/val",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help="use exactly N test images (all of them when there are fewer), spread evenly over the test set in "
        "its order (class by class): those at positions floor(k * total / N), k = 0 .. N-1. For a manifest, total "
        "counts the split's images after those leaked from train/val are left out (unless --include-leaked); the "
        "report says how many were available and how many leaked ones were left out",
    )
    parser.add_argument(
        "--ood-set",
        type=Path,
        metavar="DIR",
        help="images that are not the training domain (from a clone of BrainEdge, "
        "python -m brainedge.benchmarks.studies.ood_set makes one): each artifact also classifies every "
        "image under DIR, never counted in accuracy, and the report gives the share refused as "
        "out-of-distribution per top-level folder and over the folders DIR/sources.json "
        'calls "ood" (all of them without it), "near" ones apart (any other kind there is an error). An image '
        "under DIR that cannot be read is named on stderr, left out of the shares, and makes the exit status 1",
    )
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="thread counts (default: 1)")
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=("auto",) + BACKENDS,
        default=["auto"],
        help="backends to try for each bundle's format (default: auto)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=DEFAULT_RUNS,
        help=f"timed invokes in each artifact's own process (default {DEFAULT_RUNS}): the isolated latency kept beside "
        "the interleaved one, and the latency of a row the interleaved phase could not time",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=DEFAULT_WARMUP,
        help=f"untimed warm-up invokes per artifact, in its own process and again in the interleaved phase "
        f"(default {DEFAULT_WARMUP})",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=DEFAULT_ROUNDS,
        help="rounds of the interleaved latency phase: one process per backend and thread count runs every artifact "
        f"once a round, in a seeded random order (default {DEFAULT_ROUNDS})",
    )
    parser.add_argument(
        "--block",
        type=int,
        default=DEFAULT_BLOCK,
        help=f"timed invokes of one artifact in a round (default {DEFAULT_BLOCK}); a round's figure is their median",
    )
    parser.add_argument(
        "--settle",
        type=int,
        default=DEFAULT_SETTLE,
        help=f"untimed invokes before each block (default {DEFAULT_SETTLE}), refilling the CPU caches the artifact "
        "before it took over, so the timed ones are steady-state",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"seed of the rounds' order (default {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=DEFAULT_PROCESSES,
        help=f"fresh processes the rounds are split over (default {DEFAULT_PROCESSES}): the intervals then include "
        "what a process's own memory layout shifts",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="seconds per artifact subprocess; the interleaved phase gets them once per artifact it times",
    )
    parser.add_argument("--reference", help="artifact name of the float32 reference (default: found by variant)")
    parser.add_argument("--device-name", help="name for this device in merged reports (default: hostname)")
    parser.add_argument("--run-id", default="run", help="id of this run inside the result file")
    return parser


def benchmark(args: argparse.Namespace, command: str) -> dict:
    if not args.bundles:
        raise BrainEdgeError("give bundle directories (or an export directory), or --merge / --import-litert")
    if args.runs < 1 or args.warmup < 0:
        raise BrainEdgeError("--runs must be at least 1 and --warmup at least 0")
    if args.rounds < 1 or args.block < 1:
        raise BrainEdgeError(f"--rounds and --block must be at least 1, got {args.rounds} and {args.block}")
    if args.processes < 1:
        raise BrainEdgeError(f"--processes must be at least 1, got {args.processes}")
    check_number("--settle", args.settle, 0, 3600)
    check_number("--timeout", args.timeout, 1, 86_400)
    if args.limit is not None and args.limit < 1:
        raise BrainEdgeError(f"--limit must be at least 1, got {args.limit}")
    for threads in args.threads:
        check_threads(threads, "--threads")
    artifacts = discover_bundles(args.bundles)
    test_set, test_record = None, None
    if args.test_set:
        available = load_test_set(args.test_set, args.split, args.include_leaked)
        test_set = available.subset(args.limit)
        test_record = {**test_set.describe(), **_selection(args, available)}
    ood_set = load_ood_set(args.ood_set) if args.ood_set else None
    reference = choose_reference(artifacts, args.reference)
    settings = Settings(
        threads=args.threads,
        backends=args.backends,
        runs=args.runs,
        warmup=args.warmup,
        rounds=args.rounds,
        block=args.block,
        settle=args.settle,
        seed=args.seed,
        processes=args.processes,
        timeout_s=args.timeout,
    )
    device = device_record(args.device_name)
    rows = run_matrix(artifacts, test_set, settings, args.run_id, device["name"], reference, ood_set=ood_set)
    run = make_run(
        args.run_id,
        device,
        command,
        settings.as_dict(),
        test_record,
        reference,
        ood_set.describe() if ood_set else None,
    )
    return assemble([run], rows)


def _selection(args: argparse.Namespace, available: LabelledSet) -> dict:
    """How the test images were chosen: of how many (--limit), and how many leaked ones were left out."""
    chosen: dict = {}
    if args.limit is not None:
        chosen.update(limit=args.limit, available=len(available.paths))
    if available.leaked_left_out is not None:
        chosen["leaked_left_out"] = available.leaked_left_out
    return chosen


def import_litert(args: argparse.Namespace, command: str) -> dict:
    name = args.device_name or "benchmark_model device"
    device = {
        "name": name,
        "cpu": None,
        "cores": None,
        "arch": None,
        "os": None,
        "python": None,
        "source": "LiteRT benchmark_model log",
    }
    rows = [BenchRow.from_json(row) for row in import_logs(args.import_litert, args.run_id, name)]
    return assemble([make_run(args.run_id, device, command, None, None, None)], rows)


def run(args: argparse.Namespace, command: str) -> int:
    check_results_folder(
        args.out, OUTPUT_FILES, RESULT_JSON, is_result_text
    )  # before the work: a bad --out must not cost a whole benchmark
    with output_lock(args.out, "brainedge-bench"):
        return _run(args, command)


def _run(args: argparse.Namespace, command: str) -> int:
    """run's work, while it holds --out."""
    if args.merge:
        result = merge_files(args.merge)
    elif args.import_litert:
        result = import_litert(args, command)
    else:
        result = benchmark(args, command)
    write_all(result, args.out)
    rows = rows_of(result)
    failed = sum(row.status == "failed" for row in rows)
    unreadable = unreadable_images(rows)
    unreadable_ood = unreadable_ood_images(rows)
    # as brainedge-classify does: each bad input named, exit 1
    for images, consequence in (
        (unreadable, "counted as a wrong answer"),
        (unreadable_ood, "left out of the OOD-set shares"),
    ):
        for path, error in images.items():
            print(f"error: {error if error.startswith(path) else f'{path}: {error}'} ({consequence})", file=sys.stderr)
    print(
        f"wrote {args.out / REPORT_MD} ({len(rows)} rows, {failed} failed"
        + (f", {len(unreadable)} unreadable test image(s)" if unreadable else "")
        + (f", {len(unreadable_ood)} unreadable OOD-set image(s)" if unreadable_ood else "")
        + ")",
        file=sys.stderr,
    )
    return 1 if failed or unreadable or unreadable_ood else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    command = shlex.join(["brainedge-bench", *argv])
    return report_user_errors(lambda parsed: run(parsed, command), args)
