"""Measure one bundle with one backend and thread count, in a process of its own.

``python -m brainedge.benchmarks.runner --bundle DIR --images LIST.json ...`` prints one JSON object
on stdout. Running each artifact in a fresh process keeps peak RSS attributable to that
artifact alone and turns an interpreter crash into one failed row instead of a lost run.

Phases, as LiteRT's ``benchmark_model``: init (Engine construction: read, verify,
allocate), first inference, warm-up, then steady-state invoke latency on a fixed
preprocessed input (the first test image that decodes); then end-to-end classification
(decode, preprocess, invoke, rank) over the labelled images for throughput and per-image
predictions. An unreadable image is a wrong answer and is named in the result, never the
end of the row. The invoke latency timed here, one artifact after another, is the *isolated*
one; the row's reported latency comes from ``benchmarks.paired``, which times the same
``invoke_latencies`` on the same input for all artifacts in interleaved rounds.

Beside each prediction it returns what says whether the answer can be taken at its word (see
``benchmarks.answers``): the calibrated top-1 confidence and, for a bundle with a head, the logits
(before the temperature) and the out-of-distribution score; the head's own cost on the fixed input
(``head_ms``: pooling, dense layers and OOD distance; ``ood_ms``: the distance alone); and, given
``--ood-images``, whether each image of an out-of-distribution set is refused. None of this is
timed into the invoke latency or the throughput.

Started by brainedge-bench (which sets ``BRAINEDGE_BENCH_PARENT``), a runner on Linux dies with
its parent, even one killed by SIGKILL, so no measurement outlives the benchmark it was for.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from brainedge.edge_runtime.engine import Engine, Prediction
from brainedge.edge_runtime.errors import BrainEdgeError

DEFAULT_RUNS = 200
DEFAULT_WARMUP = 20
PARENT_ENV = "BRAINEDGE_BENCH_PARENT"
"""The pid of the brainedge-bench that started this runner: the process it must not outlive."""
_PR_SET_PDEATHSIG = 1
HEAD_RUNS = 200
"""Timed runs of the head (it is numpy, microseconds a run: always this many, whatever ``--runs``)."""
HEAD_WARMUP = 10


def measure(
    bundle: Path,
    backend: str,
    threads: int | None,
    images: list[Path],
    runs: int = DEFAULT_RUNS,
    warmup: int = DEFAULT_WARMUP,
    ood_images: list[Path] | None = None,
) -> dict[str, Any]:
    """All per-artifact figures; accuracy, agreement and calibration are left to the parent, which has the labels."""
    start = time.perf_counter()
    engine = Engine.from_bundle(bundle, backend, threads)
    init_ms = _ms_since(start)
    opened = engine.bundle

    fixed = latency_input(engine, images)
    start = time.perf_counter()
    engine.backend.run(fixed)
    first_ms = _ms_since(start)
    samples = invoke_latencies(engine, fixed, runs, warmup)

    answers, unreadable, seconds = classify_all(engine, images)
    head_ms, ood_ms = head_latencies(engine, fixed)
    return {
        "status": "ok",
        "format": opened.metadata.model_format,
        "variant": opened.metadata.variant,
        "backend": engine.backend.name,
        "threads": threads,
        "size_bytes": opened.size_bytes,
        "init_ms": init_ms,
        "first_ms": first_ms,
        "latency_ms": latency_summary(samples),
        "latency_samples_ms": [round(s, 4) for s in samples],
        "throughput_ips": len(images) / seconds if images and seconds > 0 else None,
        "images": len(images),
        "image_errors": len(unreadable),
        "unreadable_images": unreadable,
        "predictions": [a.index for a in answers],
        "peak_rss_mb": peak_rss_mb(),
        "answers": answers_record(engine, answers, head_ms, ood_ms, ood_images),
    }


@dataclass(frozen=True)
class Answer:
    """One test image's answer as the parent needs it; ``index`` -1 (and nothing else) when unreadable."""

    index: int
    confidence: float | None = None
    """The calibrated top-1 probability (what the referral threshold is compared with)."""
    logits: list[float] | None = None
    ood_score: float | None = None
    out_of_distribution: bool | None = None


def answers_record(
    engine: Engine,
    answers: list[Answer],
    head_ms: float | None,
    ood_ms: float | None,
    ood_images: list[Path] | None,
) -> dict[str, Any]:
    """Per test image: calibrated confidence, and with a head its logits and OOD score and flag; the head's cost.

    ``ood_set`` is each OOD-set image's refusal (None: the bundle cannot refuse, or no set was given).
    """
    head = engine.head
    metadata = engine.bundle.metadata if engine.bundle else None
    can_refuse = head is not None and head.ood is not None
    return {
        "head": head is not None,
        "temperature": head.temperature if head is not None else None,
        "confidence_threshold": engine.confidence_threshold,
        "target_accuracy": metadata.referral.target_accuracy if metadata and metadata.referral else None,
        "ood_threshold": head.ood.threshold if can_refuse else None,
        "confidence": [a.confidence for a in answers],
        "logits": [a.logits for a in answers] if head is not None else None,
        "ood_scores": [a.ood_score for a in answers] if can_refuse else None,
        "ood_flagged": [a.out_of_distribution for a in answers] if can_refuse else None,
        "head_ms": head_ms,
        "ood_ms": ood_ms,
        "ood_set": refusals(engine, ood_images) if can_refuse and ood_images else None,
    }


def latency_input(engine: Engine, images: list[Path]) -> np.ndarray:
    """The first test image that decodes, preprocessed; a blank input when none does (or none is given)."""
    for path in images:
        try:
            return engine.preprocess(path)
        except BrainEdgeError:
            continue
    return _blank_input(engine)


def invoke_latencies(engine: Engine, batch: np.ndarray, runs: int, warmup: int) -> list[float]:
    """Invoke-only latency (ms) of ``runs`` steady-state calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        engine.backend.run(batch)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        engine.backend.run(batch)
        samples.append(_ms_since(start))
    return samples


def classify_all(engine: Engine, images: list[Path]) -> tuple[list[Answer], list[dict[str, str]], float]:
    """The answer per image (class index -1 for an unreadable one), the unreadable images and why, and the seconds.

    Each image takes the steps ``Engine.classify`` takes (decode, preprocess, run, rank), done
    here one by one only to keep the logits, which its ``Prediction`` does not carry.
    """
    index = {name: i for i, name in enumerate(engine.class_names)}
    answers, unreadable = [], []
    start = time.perf_counter()
    for path in images:
        try:
            outputs = engine.run(engine.preprocess(path))
            score = None if outputs.ood_scores is None else outputs.ood_scores[0]
            prediction = engine.rank(outputs.probabilities[0], 1, score)
        except BrainEdgeError as error:
            answers.append(Answer(-1))
            unreadable.append({"path": str(path), "error": str(error)})
            continue
        logits = outputs.logits[0].tolist() if engine.head is not None else None
        answers.append(_answer(index[prediction.label], prediction, logits))
    return answers, unreadable, time.perf_counter() - start


def _answer(index: int, prediction: Prediction, logits: list[float] | None) -> Answer:
    return Answer(index, prediction.score, logits, prediction.ood_score, prediction.out_of_distribution)


def refusals(engine: Engine, images: list[Path]) -> dict[str, Any]:
    """Whether the bundle refuses each image as out-of-distribution (None where it cannot be read), and why not."""
    flagged: list[bool | None] = []
    scores: list[float | None] = []
    unreadable = []
    for path in images:
        try:
            prediction = engine.classify(path, top_k=1)
        except BrainEdgeError as error:
            flagged.append(None)
            scores.append(None)
            unreadable.append({"path": str(path), "error": str(error)})
            continue
        flagged.append(prediction.out_of_distribution)
        scores.append(prediction.ood_score)
    return {"flagged": flagged, "scores": scores, "unreadable": unreadable}


def head_latencies(engine: Engine, batch: np.ndarray) -> tuple[float | None, float | None]:
    """Median ms of the whole head (pooling, dense layers, OOD distance) and of the OOD distance alone.

    Both run on the feature map of the fixed latency input, as ``Engine.run`` hands it over;
    (None, None) for a bundle without a head, and ``ood_ms`` None for a head without an OOD model.
    """
    head = engine.head
    if head is None:
        return None, None
    feature_map = engine.model_output(batch)
    head_ms = _median_ms(lambda: head.run(feature_map))
    if head.ood_statistics is None:
        return head_ms, None
    features = head.run(feature_map).features
    return head_ms, _median_ms(lambda: head.ood_statistics.distances(features))


def _median_ms(call: Any, runs: int = HEAD_RUNS, warmup: int = HEAD_WARMUP) -> float:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append(_ms_since(start))
    return float(np.median(samples))


def latency_summary(samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return {key: None for key in ("p50", "p90", "p99", "mean", "min", "max", "std")}
    values = np.asarray(samples, np.float64)
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "mean": float(values.mean()),
        "min": float(values.min()),
        "max": float(values.max()),
        "std": float(values.std()),
    }


def peak_rss_mb(status: Path = Path("/proc/self/status")) -> float:
    """This process's peak resident set in MiB.

    Linux carries ``ru_maxrss`` across fork and exec, so a child of a large parent reports
    the parent's peak; ``VmHWM`` belongs to the current address space only, so it is used
    where readable. ``ru_maxrss`` is KiB on Linux and bytes on macOS.
    """
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def die_with_parent() -> None:
    """Have Linux kill this runner when the brainedge-bench that started it dies, however it dies."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
    except (OSError, AttributeError):
        return
    if str(os.getppid()) != parent:  # it died before prctl took hold: nobody waits for this row
        os._exit(1)


def stdout_for_the_result() -> TextIO:
    """Standard output kept for the one JSON line; fd 1 then goes to stderr, as interpreters may print to it."""
    sys.stdout.flush()
    stream = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    return stream


def _blank_input(engine: Engine) -> np.ndarray:
    spec = engine.input_spec
    return np.zeros((1, spec.height, spec.width, spec.channels), spec.dtype)


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m brainedge.benchmarks.runner", description=__doc__)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--images", type=Path, help="JSON list of image paths for the end-to-end pass")
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP)
    parser.add_argument("--ood-images", type=Path, help="JSON list of out-of-distribution images to try refusing")
    args = parser.parse_args(argv)
    die_with_parent()
    result_stream = stdout_for_the_result()
    try:
        images = [Path(p) for p in json.loads(args.images.read_text())] if args.images else []
        ood_images = [Path(p) for p in json.loads(args.ood_images.read_text())] if args.ood_images else None
        result = measure(args.bundle, args.backend, args.threads, images, args.runs, args.warmup, ood_images)
        status = 0
    except BrainEdgeError as error:
        result, status = {"status": "failed", "error": str(error)}, 1
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the parent reports it
        return 130
    result_stream.write(json.dumps(result) + "\n")
    result_stream.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
