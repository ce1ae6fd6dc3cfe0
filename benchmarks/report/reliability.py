"""The reliability plot: per bundle, accuracy against confidence per bin before and after calibration."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from typing import Any

from brainedge.benchmarks.report.formatting import fmt
from brainedge.benchmarks.report.labels import answer_label
from brainedge.benchmarks.report.style import png
from brainedge.benchmarks.rows import BenchRow

TITLE_WIDTH = 40
"""Characters a line of a reliability panel's title may take (a panel is 4.3 inches wide, the title 9 pt)."""
BEFORE_STYLE = {"color": "#E69F00", "marker": "o", "linestyle": "--", "label": "before calibration (T = 1)"}
AFTER_STYLE = {"color": "#0072B2", "marker": "s", "linestyle": "-", "label": "after calibration (bundle's T)"}


def reliability_png(plt: Any, rows: Sequence[BenchRow]) -> bytes | None:
    figure = reliability_figure(plt, rows)
    return None if figure is None else png(plt, figure)


def reliability_figure(plt: Any, rows: Sequence[BenchRow]) -> Any:
    """Per bundle: accuracy against confidence per bin before and after calibration, the diagonal, and bin counts.

    Sized in inches from the number of panels (at most three a line) and the legend's lines, so that
    one bundle gets a figure as legible as several: a legend three entries wide would not fit above a
    single panel, so there it takes one entry a line. None when no row has reliability bins.
    """
    drawn = [r for r in rows if r.reliability]
    if not drawn:
        return None
    columns = min(3, len(drawn))
    lines = math.ceil(len(drawn) / columns)
    legend_columns = 3 if columns > 1 else 1
    legend_height = 0.15 + 0.25 * math.ceil(3 / legend_columns)
    width = max(4.3 * columns, 4.8)
    figure = plt.figure(figsize=(width, legend_height + 4.6 * lines), constrained_layout=True)
    grid = figure.add_gridspec(1 + 2 * lines, columns, height_ratios=[legend_height] + [3.3, 1.3] * lines)
    for index, row in enumerate(drawn):
        line, column = divmod(index, columns)
        top = figure.add_subplot(grid[1 + 2 * line, column])
        bottom = figure.add_subplot(grid[2 + 2 * line, column], sharex=top)
        _reliability_panel(top, bottom, row, answer_label(row, drawn), first_column=column == 0)
    legend = figure.add_subplot(grid[0, :])
    legend.axis("off")
    handles = [
        plt.Line2D([], [], color="#777777", linestyle=":", label="perfectly calibrated"),
        plt.Line2D([], [], **BEFORE_STYLE),
        plt.Line2D([], [], **AFTER_STYLE),
    ]
    legend.legend(handles=handles, loc="center", ncol=legend_columns, frameon=False, fontsize=9)
    return figure


def _reliability_panel(top: Any, bottom: Any, row: BenchRow, label: str, first_column: bool) -> None:
    bins = row.reliability or {}
    edges = bins["edges"]
    width = edges[1] - edges[0]
    centres = [(lo + hi) / 2 for lo, hi in zip(edges[:-1], edges[1:])]
    top.plot([0, 1], [0, 1], color="#777777", linestyle=":", linewidth=1)
    for when, style, shift in (("before", BEFORE_STYLE, -0.2), ("after", AFTER_STYLE, 0.2)):
        kept = [i for i, count in enumerate(bins[when]["counts"]) if count > 0]
        top.plot(
            [bins[when]["confidence"][i] for i in kept],
            [bins[when]["accuracy"][i] for i in kept],
            markersize=4,
            linewidth=1.2,
            clip_on=False,
            **{k: v for k, v in style.items() if k != "label"},
        )
        bottom.bar([c + shift * width for c in centres], bins[when]["counts"], width=0.4 * width, color=style["color"])
    before, after = row.calibration_before or {}, row.calibration_after or {}
    temperature = f"T = {fmt(row.temperature)}"
    if row.temperature == 1.0:
        temperature += " (the curves coincide)"
    top.set_title(
        f"{textwrap.fill(label, TITLE_WIDTH)}\n{temperature}, "
        f"ECE {fmt(before.get('ece'), 1, 3)} → {fmt(after.get('ece'), 1, 3)}",
        fontsize=9,
    )
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    top.grid(alpha=0.3)
    top.tick_params(labelbottom=False, labelsize=8)
    bottom.tick_params(labelsize=8)
    counts = [c for when in ("before", "after") for c in bins[when]["counts"] if c > 0]
    if counts and max(counts) > 20 * min(counts):
        bottom.set_yscale("log")  # one crowded bin (the confident answers) would flatten the others
    bottom.set_xlabel("top-1 confidence", fontsize=8)
    if first_column:
        top.set_ylabel("accuracy in bin", fontsize=8)
        bottom.set_ylabel("images", fontsize=8)
