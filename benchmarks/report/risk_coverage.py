"""The risk-coverage plot: per bundle, the error rate of the accepted answers against the share accepted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from brainedge.benchmarks.report.formatting import fmt
from brainedge.benchmarks.report.labels import answer_label
from brainedge.benchmarks.report.style import LINESTYLES, PALETTE, png
from brainedge.benchmarks.rows import BenchRow


def risk_coverage_png(plt: Any, rows: Sequence[BenchRow]) -> bytes | None:
    """Per bundle: error rate of the accepted answers against the share accepted, the referral point marked.

    Answers refused as out-of-distribution are accepted at no threshold: each curve ranks the others and
    ends at the share of test images not refused.
    """
    drawn = [r for r in rows if r.risk_coverage]
    if not drawn:
        return None
    figure = plt.figure(figsize=(8, 5.2 + 0.22 * len(drawn)), constrained_layout=True)
    grid = figure.add_gridspec(2, 1, height_ratios=[5.0, 0.45 + 0.22 * len(drawn)])
    axes = figure.add_subplot(grid[0])
    handles = []
    for index, row in enumerate(drawn):
        colour = PALETTE[index % len(PALETTE)]
        style = LINESTYLES[index % len(LINESTYLES)]  # coinciding curves (the same model) still show apart
        curve = row.risk_coverage or {}
        referral = row.referral or {}
        label = answer_label(row, drawn)
        if referral.get("accuracy") is not None:
            label += (
                f": threshold {fmt(referral['threshold'])} keeps {fmt(referral['coverage'], 100, 1)}%"
                f" at {fmt(1 - referral['accuracy'], 100, 1)}% error"
            )
        (line,) = axes.plot(
            [100 * c for c in curve["coverage"]],
            [100 * e for e in curve["error"]],
            color=colour,
            linestyle=style,
            linewidth=1.5,
            label=label,
        )
        handles.append(line)
        if referral.get("accuracy") is not None:
            axes.plot(
                100 * referral["coverage"],
                100 * (1 - referral["accuracy"]),
                marker="o",
                markersize=8,
                markerfacecolor=colour,
                markeredgecolor="black",
                linestyle="none",
                zorder=3,
                clip_on=False,  # a point at 100% coverage sits on the frame
            )
    handles.append(
        plt.Line2D(
            [],
            [],
            marker="o",
            markersize=8,
            markerfacecolor="white",
            markeredgecolor="black",
            linestyle="none",
            label="referral threshold: answers below it are referred for review",
        )
    )
    axes.set_xlim(0, 100)
    axes.set_ylim(bottom=0)
    axes.set_xlabel("coverage: test images whose answer is accepted (%; refused ones never are)")
    axes.set_ylabel("error rate of the accepted answers (%)")
    axes.set_title("Risk vs coverage (down and right is better)")
    axes.grid(alpha=0.3)
    legend = figure.add_subplot(grid[1])
    legend.axis("off")
    legend.legend(handles=handles, loc="upper left", frameon=False, fontsize=8)
    return png(plt, figure)
