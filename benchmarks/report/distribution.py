"""The latency distribution plot: a box plot of each row's steady-state invoke latencies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from brainedge.benchmarks.report.labels import row_label, several_devices
from brainedge.benchmarks.report.style import matplotlib_at_least, png
from brainedge.benchmarks.rows import BenchRow


def distribution_png(plt: Any, rows: Sequence[BenchRow]) -> bytes | None:
    """One box per row that measured latency samples, labelled as in the tables; None when none did."""
    measured = [r for r in rows if r.status == "ok" and r.latency_samples_ms]
    if not measured:
        return None
    with_device = several_devices(measured)
    figure, axes = plt.subplots(figsize=(8, 1.2 + 0.45 * len(measured)))
    horizontal = {"orientation": "horizontal"} if matplotlib_at_least(plt, 3, 10) else {"vert": False}
    axes.boxplot([r.latency_samples_ms for r in measured], showfliers=True, flierprops={"markersize": 2}, **horizontal)
    axes.set_yticks(range(1, len(measured) + 1), [row_label(r, with_device, measured) for r in measured], fontsize=7)
    axes.invert_yaxis()
    axes.set_xlabel("invoke latency per run (ms)")
    axes.set_title("Steady-state latency distribution")
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return png(plt, figure)
