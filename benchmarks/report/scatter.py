"""The accuracy-vs-latency plot: each row's test accuracy against its p50 invoke latency, with both intervals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from brainedge.benchmarks.report.labels import row_label, several_devices, where
from brainedge.benchmarks.report.placement import label_column, labelled_canvas
from brainedge.benchmarks.report.style import LABEL_COLOURS, png
from brainedge.benchmarks.rows import BenchRow
from brainedge.edge_runtime.metrics import wilson_interval


def scatter_png(plt: Any, rows: Sequence[BenchRow]) -> bytes | None:
    figure = scatter_figure(plt, rows)
    return None if figure is None else png(plt, figure)


def scatter_figure(plt: Any, rows: Sequence[BenchRow]) -> Any:
    """Accuracy against p50 latency with their 95% intervals as error bars, and a label per point.

    The labels stand in a column right of the plot (``placement``), so that they never overlap.
    None when no row has both figures.
    """
    points = [
        r for r in rows if r.status == "ok" and r.accuracy is not None and (r.latency_ms or {}).get("p50") is not None
    ]
    if not points:
        return None
    with_device = several_devices(points)
    labels = [row_label(r, with_device, points) for r in points]
    figure, axes = labelled_canvas(plt, len(points), max(len(label) for label in labels))
    colours = _point_colours(points, with_device)
    for row, colour in zip(points, colours):
        axes.errorbar(
            [_p50(row)],
            [100 * _accuracy(row)],
            xerr=np.array([_latency_error(row)]).T,
            yerr=np.array([_accuracy_error(row)]).T,
            fmt="o",
            markersize=5,
            color=colour,
            elinewidth=0.9,
            capsize=2,
            alpha=0.85,
        )
    axes.set_xlabel("p50 invoke latency (ms); bars: 95% interval over the processes' medians")
    axes.set_ylabel("test accuracy (%); bars: 95% Wilson interval")
    axes.set_title("Accuracy vs latency (up and left is better)")
    axes.grid(alpha=0.3)
    if with_device:
        seen = dict(zip((where(r, points) for r in points), colours))
        handles = [plt.Line2D([], [], marker="o", linestyle="none", color=c, label=d) for d, c in sorted(seen.items())]
        axes.legend(handles=handles, title="device", fontsize=8)
    axes.autoscale_view()
    label_column(axes, [(_p50(r), 100 * _accuracy(r)) for r in points], labels, colours)
    return figure


def _p50(row: BenchRow) -> float:
    return float((row.latency_ms or {})["p50"])


def _accuracy(row: BenchRow) -> float:
    return float(row.accuracy or 0.0)


def _point_colours(points: Sequence[BenchRow], with_device: bool) -> list[str]:
    """One colour per device when there are several (the legend names them), else one per point, so that a
    label's colour leads to its point in a cluster."""
    if not with_device:
        return [LABEL_COLOURS[index % len(LABEL_COLOURS)] for index in range(len(points))]
    devices = sorted({where(r, points) for r in points})
    return [LABEL_COLOURS[devices.index(where(r, points)) % len(LABEL_COLOURS)] for r in points]


def _latency_error(row: BenchRow) -> tuple[float, float]:
    """How far the p50's 95% interval reaches below and above it (nothing for a row without interleaved rounds)."""
    interval = (row.paired or {}).get("p50_interval_ms")
    if not interval:
        return (0.0, 0.0)
    p50 = _p50(row)
    return (max(p50 - interval[0], 0.0), max(interval[1] - p50, 0.0))


def _accuracy_error(row: BenchRow) -> tuple[float, float]:
    """How far accuracy's 95% Wilson interval reaches below and above it, in points (nothing without a count)."""
    images = row.images
    if not images:
        return (0.0, 0.0)
    accuracy = _accuracy(row)
    low, high = wilson_interval(round(accuracy * images), images)
    return (100 * (accuracy - low), 100 * (high - accuracy))
