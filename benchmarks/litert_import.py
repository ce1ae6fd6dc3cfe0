"""Import the text output of LiteRT's ``benchmark_model`` (what users run on phones via adb).

The tool prints, among its log lines (any prefix: ``INFO:``, ``I tflite  :``, a timestamp)::

    Graph: [/data/local/tmp/model_int8.tflite]
    Num threads: [4]
    The input model file size (MB): 3.57
    count=50 first=2990 curr=2913 min=2727 max=3189 avg=2950.3 std=109 p5=2750 median=2940 p95=3100
    Inference timings in us: Init: 17187, First inference: 3512, Warmup (avg): 3512, Inference (avg): 2950.3
    Memory footprint delta from the start of the tool (MB): init=4.2 overall=46.1
    Overall peak memory footprint (MB) via periodic monitoring: 52.3

Each ``STARTING!`` begins a new invocation, so one log may hold several rows. The tool
gives an average and, in newer versions, a median; it has no p90/p99, so those stay null.
Its "memory footprint delta" is not a peak RSS and is kept apart as ``memory_delta_mb``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from brainedge.edge_runtime.errors import BrainEdgeError

_NUM = r"([0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)"
SUMMARY = re.compile(
    rf"Inference timings in us: Init: {_NUM}, First inference: {_NUM}, "
    rf"Warmup \(avg\): {_NUM}, Inference \(avg\): {_NUM}"
)
STEADY = re.compile(
    rf"count=(\d+) first={_NUM} curr={_NUM} min={_NUM} max={_NUM} avg={_NUM} std={_NUM}"
    rf"(?: p5={_NUM} median={_NUM} p95={_NUM})?"
)
GRAPH = re.compile(r"Graph: \[([^\]]+)\]")
THREADS = re.compile(r"(?:Num threads|#threads used for CPU inference): \[(\d+)\]")
MODEL_SIZE = re.compile(rf"The input model file size \(MB\): {_NUM}")
PEAK_MONITORED = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: {_NUM}")
PEAK_FOOTPRINT = re.compile(rf"Peak memory footprint \(MB\): init={_NUM} overall={_NUM}")
MEMORY_DELTA = re.compile(
    rf"Memory footprint delta from the start of the tool \(MB\): "
    rf"init={_NUM} overall={_NUM}"
)
DELEGATE = re.compile(r"Replacing \d+ out of \d+ node\(s\) with delegate \((\w+)\)")

VARIANT_HINTS = (
    ("float16", "tflite_float16"),
    ("fp16", "tflite_float16"),
    ("dynamic", "tflite_dynamic_range"),
    ("qat", "tflite_int8_qat"),
    ("int8", "tflite_int8_ptq"),
    ("uint8", "tflite_int8_ptq"),
    ("quant", "tflite_int8_ptq"),
    ("float32", "tflite_float32"),
    ("fp32", "tflite_float32"),
    ("float", "tflite_float32"),
)
"""File-name hints of the export formats (names from the format table), most specific first."""


def parse_benchmark_log(text: str, source: str = "benchmark_model output") -> list[dict[str, Any]]:
    """One partial row (the fields the tool reports) per invocation found in ``text``."""
    sections = [s for s in re.split(r"STARTING!", text) if SUMMARY.search(s)]
    if not sections:
        raise BrainEdgeError(
            f"{source}: no 'Inference timings in us: ...' line (is this the output of LiteRT's benchmark_model?)"
        )
    return [_parse_section(section, source) for section in sections]


def _parse_section(text: str, source: str) -> dict[str, Any]:
    init_us, first_us, _warmup_us, average_us = map(float, SUMMARY.search(text).groups())
    graph = _first(GRAPH, text)
    name = Path(graph).name if graph else Path(source).stem
    threads = _first(THREADS, text)
    size_mb = _first(MODEL_SIZE, text)
    delegate = _first(DELEGATE, text)
    return {
        "artifact": name,
        "format": "tflite",
        "variant": guess_variant(name),
        "backend": f"benchmark_model[{delegate}]" if delegate else "benchmark_model",
        "threads": int(threads) if threads else None,
        "size_bytes": round(float(size_mb) * 1024 * 1024) if size_mb else None,
        "init_ms": init_us / 1000,
        "first_ms": first_us / 1000,
        "latency_ms": _latency(text, average_us),
        "peak_rss_mb": _peak_memory(text),
        "memory_delta_mb": _memory_delta(text),
    }


def _latency(text: str, average_us: float) -> dict[str, float | None]:
    """Steady-state figures from the last ``count=... first=...`` line (the timed run, not warm-up)."""
    latency: dict[str, float | None] = {"p50": None, "p90": None, "p99": None, "mean": average_us / 1000}
    runs = list(STEADY.finditer(text))
    if runs:
        groups = runs[-1].groups()
        latency.update(min=float(groups[3]) / 1000, max=float(groups[4]) / 1000, std=float(groups[6]) / 1000)
        if groups[8] is not None:
            latency.update(p50=float(groups[8]) / 1000, p95=float(groups[9]) / 1000)
    return latency


def _peak_memory(text: str) -> float | None:
    monitored = _first(PEAK_MONITORED, text)
    if monitored:
        return float(monitored)
    footprint = PEAK_FOOTPRINT.search(text)
    return float(footprint.group(2)) if footprint else None


def _memory_delta(text: str) -> dict[str, float] | None:
    delta = MEMORY_DELTA.search(text)
    return {"init": float(delta.group(1)), "overall": float(delta.group(2))} if delta else None


def _first(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    return match.group(1) if match else None


def guess_variant(name: str) -> str | None:
    """The export format a file name suggests ("model_int8.tflite" -> "tflite_int8_ptq"), for ratios."""
    lowered = name.lower()
    return next((variant for hint, variant in VARIANT_HINTS if hint in lowered), None)


def import_logs(paths: list[Path], run_id: str, device: str) -> list[dict[str, Any]]:
    """Schema rows for every invocation in every log (accuracy is unknown to the tool: null)."""
    rows = []
    for path in paths:
        try:
            text = Path(path).read_text(errors="replace")
        except OSError as error:
            raise BrainEdgeError(f"{path}: cannot read ({error.strerror})") from None
        for parsed in parse_benchmark_log(text, str(path)):
            rows.append(
                {
                    "run": run_id,
                    "device": device,
                    "accuracy": None,
                    "macro_f1": None,
                    "agreement": None,
                    "throughput_ips": None,
                    "images": None,
                    "image_errors": None,
                    "latency_samples_ms": [],
                    "status": "ok",
                    "error": None,
                    **parsed,
                }
            )
    return rows
