"""Time every artifact's invoke latency in one process, in interleaved rounds, so drift reaches all alike.

``python -m brainedge.benchmarks.paired --bundle A --bundle B ... --images LIST.json`` prints one JSON
object on stdout. Artifacts timed one after another turn any change of the machine's speed (a noisy
neighbour, a Raspberry Pi heating up, a phone changing governor) into a false ratio between them.
Here each round runs every artifact once, in a seeded random order, as a block of timed invokes
(``runner.invoke_latencies`` on ``runner.latency_input``: the figure the isolated runner times), so a
slower or faster machine slows or speeds every artifact of that round alike. Each block starts with a
few untimed invokes: the artifact before it evicted this one's weights from the CPU caches, and the
timed invokes are to be the steady state an isolated run measures. A bundle that cannot be loaded is a
failed entry; the others are still timed.

The statistics the harness derives from the rounds live here too: each round's median per artifact,
paired ratios with a distribution-free interval, the drift indicator (first rounds against last) and
whether other processes were busy.
Like the runner, this process dies with the brainedge-bench that started it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from brainedge.benchmarks.device import device_state
from brainedge.benchmarks.runner import (
    DEFAULT_WARMUP,
    die_with_parent,
    invoke_latencies,
    latency_input,
    stdout_for_the_result,
)
from brainedge.edge_runtime.engine import Engine
from brainedge.edge_runtime.errors import BrainEdgeError

DEFAULT_ROUNDS = 100
DEFAULT_BLOCK = 5
"""Timed invokes of one artifact in a row: a round's median per artifact is the median of its block."""
DEFAULT_SETTLE = 5
"""Untimed invokes before each block, refilling the caches the previous artifact took over."""
DEFAULT_SEED = 0
DEFAULT_PROCESSES = 6
"""Fresh processes the rounds are split over. A process's memory layout shifts its ratios by a few percent
(seen: int8/float32 0.739 and 0.755 in two quiet runs, each with a narrow interval); the spread of six
processes' medians is a 97% interval of their median that includes that shift."""
CONFIDENCE = 0.95
DRIFT_SHARE = 0.2
"""The first and the last fifth of the rounds are compared for drift."""
DRIFT_THRESHOLD = 0.10
"""A change of an artifact's median by more than 10% from the first to the last rounds flags the row."""
BUSY_THRESHOLD = 0.25
"""Other processes using more than a quarter of a core on average during the rounds flag the phase: they
contend for caches and memory too, which slows some models more than others."""


def round_orders(count: int, rounds: int, seed: int = DEFAULT_SEED) -> Iterator[list[int]]:
    """The artifacts' order in each round: every one of ``count`` once, shuffled anew by a seeded generator."""
    generator = np.random.default_rng(seed)
    for _ in range(rounds):
        yield [int(i) for i in generator.permutation(count)]


def measure(
    bundles: Sequence[Path],
    backend: str,
    threads: int | None,
    images: list[Path],
    rounds: int = DEFAULT_ROUNDS,
    block: int = DEFAULT_BLOCK,
    warmup: int = DEFAULT_WARMUP,
    seed: int = DEFAULT_SEED,
    settle: int = DEFAULT_SETTLE,
) -> dict[str, Any]:
    """Per bundle, its timed blocks round by round (or why it could not be loaded), and the device around them."""
    loaded = [_load(bundle, backend, threads, images) for bundle in bundles]
    timed = [entry for entry in loaded if isinstance(entry, tuple)]
    for engine, batch in timed:
        invoke_latencies(engine, batch, 0, warmup)
    before = device_state()
    blocks = interleaved_blocks(timed, rounds, block, seed, settle)
    after = device_state()
    samples = iter(blocks)
    artifacts = [
        {"status": "failed", "error": entry} if isinstance(entry, str) else {"status": "ok", "rounds": next(samples)}
        for entry in loaded
    ]
    return {"status": "ok", "artifacts": artifacts, "device_before": before, "device_after": after}


def _load(bundle: Path, backend: str, threads: int | None, images: list[Path]) -> tuple[Engine, np.ndarray] | str:
    """The engine and its latency input, or the reason it cannot be timed."""
    try:
        engine = Engine.from_bundle(bundle, backend, threads)
    except BrainEdgeError as error:
        return str(error)
    return engine, latency_input(engine, images)


def interleaved_blocks(
    timed: Sequence[tuple[Engine, np.ndarray]], rounds: int, block: int, seed: int, settle: int = DEFAULT_SETTLE
) -> list[list[list[float]]]:
    """Per artifact, per round, the ms of its ``block`` invokes after ``settle`` untimed ones; each round takes
    the artifacts in a new order."""
    blocks: list[list[list[float]]] = [[] for _ in timed]
    for order in round_orders(len(timed), rounds, seed):
        for index in order:
            engine, batch = timed[index]
            blocks[index].append(invoke_latencies(engine, batch, block, settle))
    return blocks


def round_medians(rounds: Sequence[Sequence[float]]) -> list[float]:
    """One figure per round: the median of the artifact's block, robust to a single slow invoke."""
    return [float(np.median(block)) for block in rounds]


def median_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """A distribution-free interval for the median: the order statistics the binomial(n, 1/2) puts it between.

    With fewer than six values no pair of them reaches 95%; the full range is returned then. None for no values.
    """
    ordered = sorted(values)
    count = len(ordered)
    if count == 0:
        return None
    tail = (1 - confidence) / 2
    dropped, next_below = 0, (1 + count) / 2**count  # next_below: P(binomial <= dropped + 1)
    while next_below <= tail:
        dropped += 1
        next_below += math.comb(count, dropped + 1) / 2**count
    return float(ordered[dropped]), float(ordered[count - 1 - dropped])


def per_process(values: Sequence[float], process_rounds: Sequence[int] | None) -> list[float]:
    """The median of each process's consecutive share of ``values`` (one value per round); the values
    themselves when they came from one process."""
    if not process_rounds or len(process_rounds) < 2 or sum(process_rounds) != len(values):
        return list(values)
    starts = np.cumsum([0, *process_rounds])
    return [float(np.median(values[a:b])) for a, b in zip(starts[:-1], starts[1:]) if b > a]


def paired_ratio(
    round_ms: Sequence[float],
    reference_round_ms: Sequence[float],
    process_rounds: Sequence[int] | None = None,
    confidence: float = CONFIDENCE,
) -> dict[str, Any] | None:
    """The median of the per-round ratios artifact / reference, its interval and the number of rounds.

    A round's two medians were measured seconds apart, so a change of the machine's speed divides out.
    With rounds from several processes (``process_rounds``), each process's median ratio is one value:
    the figure is their median and the interval theirs, so a process's own layout counts as noise.
    """
    if not round_ms or len(round_ms) != len(reference_round_ms):
        return None
    ratios = per_process([a / b for a, b in zip(round_ms, reference_round_ms)], process_rounds)
    low, high = median_interval(ratios, confidence)
    return {"ratio": float(np.median(ratios)), "low": float(low), "high": float(high), "rounds": len(round_ms)}


def drift(round_ms: Sequence[float], share: float = DRIFT_SHARE, threshold: float = DRIFT_THRESHOLD) -> dict | None:
    """The artifact's median over the last rounds against the first; flagged beyond ``threshold`` either way."""
    if len(round_ms) < 2:
        return None
    count = max(1, min(len(round_ms) // 2, round(share * len(round_ms))))
    first, last = float(np.median(round_ms[:count])), float(np.median(round_ms[-count:]))
    change = last / first - 1
    return {
        "first_ms": first,
        "last_ms": last,
        "change": change,
        "threshold": threshold,
        "flagged": abs(change) > threshold,
    }


def busy(paired: dict[str, Any]) -> bool:
    """Whether other processes used more than ``BUSY_THRESHOLD`` cores on average during a row's phase."""
    others = paired.get("others_cores")
    return others is not None and others > BUSY_THRESHOLD


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m brainedge.benchmarks.paired", description=__doc__)
    parser.add_argument("--bundle", type=Path, action="append", required=True, help="a bundle to time (repeat)")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--images", type=Path, help="JSON list of image paths; the first that decodes is the input")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--block", type=int, default=DEFAULT_BLOCK)
    parser.add_argument("--settle", type=int, default=DEFAULT_SETTLE)
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    die_with_parent()
    result_stream = stdout_for_the_result()
    try:
        images = [Path(p) for p in json.loads(args.images.read_text())] if args.images else []
        result = measure(
            args.bundle,
            args.backend,
            args.threads,
            images,
            args.rounds,
            args.block,
            args.warmup,
            args.seed,
            args.settle,
        )
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the parent reports it
        return 130
    result_stream.write(json.dumps(result) + "\n")
    result_stream.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
