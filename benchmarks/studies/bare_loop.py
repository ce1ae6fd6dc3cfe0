"""Does brainedge-bench's invoke latency measure what a bare LiteRT loop measures? (issue 19, target: within 5%)

  python -m brainedge.benchmarks.studies.bare_loop --bundle /work/runs/mri_224/export/tflite_int8_ptq \\
      --test-set /work/runs/mri_224/manifest.csv --out benchmarks/results/bare_loop_mri_224

In one process, on one input (the harness's latency input: the first test image that decodes, through
the bundle's preprocessing), three timings in interleaved rounds as brainedge-bench takes them
(``benchmarks.paired``'s seeded orders; per round a block of invokes each, after untimed ones that
refill the caches):

- **harness**: ``runner.invoke_latencies`` on a ``Engine``, the figure brainedge-bench reports as
  invoke latency (the backend's set input, invoke, read output);
- **bare**: ``ai_edge_litert.interpreter.Interpreter`` with the same model, threads and default
  delegate, timed around ``set_tensor``, ``invoke`` and ``get_tensor`` and nothing else;
- **harness with head**: ``Engine.run`` (the model, dequantizing its output and the bundle's head),
  what an answer costs beyond decoding and preprocessing, for comparison.

The harness and the bare loop do the same work, so their ratio (the median of the per-round ratios,
with a 95% distribution-free interval) should be within 5% of 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from brainedge.benchmarks.dataset import load_test_set
from brainedge.benchmarks.device import device_record
from brainedge.benchmarks.paired import (
    DEFAULT_BLOCK,
    DEFAULT_SEED,
    DEFAULT_SETTLE,
    median_interval,
    paired_ratio,
    round_medians,
    round_orders,
)
from brainedge.benchmarks.runner import DEFAULT_WARMUP, invoke_latencies, latency_input
from brainedge.benchmarks.studies import record_paths, study_command, write_record
from brainedge.edge_runtime.engine import Engine
from brainedge.edge_runtime.errors import BrainEdgeError, report_user_errors
from brainedge.edge_runtime.files import check_output_file

TARGET = 0.05
"""The harness may differ from the bare loop by at most 5%."""
DEFAULT_ROUNDS = 300
TIMINGS = ("harness", "bare", "harness_with_head")

Timer = Callable[[int], list[float]]
"""Runs a timing ``n`` times and returns each run's milliseconds."""


def bare_loop(model: Path, threads: int, batch: np.ndarray) -> Timer:
    """The minimal LiteRT loop on its own interpreter: set the input, invoke, read the output; nothing else."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model), num_threads=threads)
    interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]

    def run(count: int) -> list[float]:
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            interpreter.set_tensor(input_index, batch)
            interpreter.invoke()
            interpreter.get_tensor(output_index)
            samples.append((time.perf_counter() - start) * 1000.0)
        return samples

    return run


def with_head(classifier: Engine, batch: np.ndarray) -> Timer:
    """``Engine.run``: the model, its output dequantized, and the bundle's head."""

    def run(count: int) -> list[float]:
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            classifier.run(batch)
            samples.append((time.perf_counter() - start) * 1000.0)
        return samples

    return run


def interleave(
    timers: dict[str, Timer], rounds: int, block: int, warmup: int, seed: int, settle: int = DEFAULT_SETTLE
) -> dict[str, list[list[float]]]:
    """Per timing, its blocks round by round (each after ``settle`` untimed runs), in a new seeded order each round."""
    names = list(timers)
    for name in names:
        timers[name](warmup)
    blocks: dict[str, list[list[float]]] = {name: [] for name in names}
    for order in round_orders(len(names), rounds, seed):
        for index in order:
            timers[names[index]](settle)
            blocks[names[index]].append(timers[names[index]](block))
    return blocks


def summarize(blocks: dict[str, list[list[float]]]) -> dict[str, Any]:
    """p50 and its interval per timing; harness and harness-with-head over the bare loop, paired round by round."""
    medians = {name: round_medians(rounds) for name, rounds in blocks.items()}
    ratio = paired_ratio(medians["harness"], medians["bare"])
    return {
        "p50_ms": {name: float(np.median(np.concatenate(rounds))) for name, rounds in blocks.items()},
        "p50_interval_ms": {name: median_interval(values) for name, values in medians.items()},
        "ratio": ratio,
        "ratio_with_head": paired_ratio(medians["harness_with_head"], medians["bare"]),
        "target": TARGET,
        "within_target": 1 - TARGET <= ratio["low"] and ratio["high"] <= 1 + TARGET,
    }


def render(result: dict[str, Any]) -> str:
    ratio, head = result["ratio"], result["ratio_with_head"]
    verdict = "met" if result["within_target"] else "**NOT met**"
    device = result["device"]
    names = {
        "harness": "harness (`runner.invoke_latencies`)",
        "bare": "bare LiteRT loop (set_tensor, invoke, get_tensor)",
        "harness_with_head": "harness with head (`Engine.run`)",
    }
    lines = [
        "# brainedge-bench's invoke latency against a bare LiteRT loop",
        "",
        f"Command: `{result['command']}`  ",
        f"Bundle: `{result['bundle']}`, {result['threads']} thread(s); input: the harness's latency input, the "
        f"first image of `{result['test_set']}` that decodes  ",
        f"{result['rounds']} interleaved rounds of {result['block']} timed invokes per timing, each after "
        f"{result['settle']} untimed ones (seed {result['seed']}), after {result['warmup']} warm-up invokes each  ",
        f"Device: {device['cpu']} ({device['cores']} cores), Python {device['python']}, "
        f"LiteRT {device['packages'].get('ai-edge-litert')}, 1-minute load average {device['load_average_1m']:.2f}",
        "",
        "| timing | p50 ms | 95% interval of the median |",
        "|---|---:|---|",
    ]
    for name in TIMINGS:
        low, high = result["p50_interval_ms"][name]
        lines.append(f"| {names[name]} | {result['p50_ms'][name]:.3f} | {low:.3f}–{high:.3f} |")
    lines += [
        "",
        f"- Harness / bare loop (the same work): **{ratio['ratio']:.3f}** (95% interval {ratio['low']:.3f}–"
        f"{ratio['high']:.3f}, {ratio['rounds']} paired rounds); target within ±{TARGET:.0%}, whole interval: "
        f"{verdict}.",
        f"- Harness with head / bare loop: {head['ratio']:.3f} ({head['low']:.3f}–{head['high']:.3f}): what the "
        "head and dequantizing the feature map add to every answer.",
        "",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m brainedge.benchmarks.studies.bare_loop",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--bundle", type=Path, required=True, help="a TFLite bundle")
    parser.add_argument("--test-set", type=Path, required=True, help="a manifest or class-per-folder test set")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--block", type=int, default=DEFAULT_BLOCK)
    parser.add_argument("--settle", type=int, default=DEFAULT_SETTLE)
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, required=True, help="writes OUT.json and OUT.md")
    return parser


def run(args: argparse.Namespace) -> int:
    outputs = record_paths(args.out)
    for path in outputs.values():
        check_output_file(path)
    if min(args.threads, args.rounds, args.block) < 1 or min(args.warmup, args.settle) < 0:
        raise BrainEdgeError("--threads, --rounds and --block must be at least 1, --warmup and --settle at least 0")
    images = load_test_set(args.test_set).paths
    classifier = Engine.from_bundle(args.bundle, "litert", args.threads)
    if classifier.bundle.metadata.model_format != "tflite":
        raise BrainEdgeError(f"{args.bundle}: not a TFLite bundle; the bare loop is LiteRT's")
    batch = latency_input(classifier, images)
    timers = {
        "harness": lambda count: invoke_latencies(classifier, batch, count, 0),
        "bare": bare_loop(classifier.bundle.model_path, args.threads, batch),
        "harness_with_head": with_head(classifier, batch),
    }
    blocks = interleave(timers, args.rounds, args.block, args.warmup, args.seed, args.settle)
    result = {
        "command": args.command,
        "bundle": str(args.bundle),
        "threads": args.threads,
        "test_set": str(args.test_set),
        "rounds": args.rounds,
        "block": args.block,
        "settle": args.settle,
        "warmup": args.warmup,
        "seed": args.seed,
        **summarize(blocks),
        "device": device_record(),
    }
    write_record(outputs, result, render)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.command = study_command("bare_loop", argv)
    return report_user_errors(run, args)


if __name__ == "__main__":
    sys.exit(main())
