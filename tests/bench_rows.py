"""Benchmark rows for the bench tests: every required column given, null where a test does not say."""

from __future__ import annotations

from typing import Any

from brainedge.benchmarks.rows import BenchRow

NEUTRAL = {
    "run": "r",
    "device": "d",
    "artifact": "a",
    "format": "tflite",
    "variant": None,
    "backend": "litert",
    "threads": 1,
    "accuracy": None,
    "macro_f1": None,
    "agreement": None,
    "size_bytes": None,
    "init_ms": None,
    "first_ms": None,
    "latency_ms": None,
    "throughput_ips": None,
    "peak_rss_mb": None,
    "status": "ok",
    "error": None,
}
"""A value for each required column: an ok row of artifact "a" on device "d" in run "r", nothing measured."""


def bench_row(**columns: Any) -> BenchRow:
    """A row of ``columns``, the other required ones from NEUTRAL and the optional ones null."""
    return BenchRow(**{**NEUTRAL, **columns})
