"""Where the scatter's labels go: a column right of the axes, in the order of their points' heights, at
least a line apart and as near those heights as that allows, each joined to its point by a thin line.

Bundles of similar latency and accuracy sit on top of each other, so labels beside their points would
overlap; in the column they never do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SCATTER_FONT = 7
"""Points of the scatter's labels."""
LABEL_PITCH = 1.4
"""Distance between neighbouring labels' centres, in label heights (a line of 7-pt text is about 1.2 of them)."""
SCATTER_AXES_INCHES = (5.6, 4.2)


def labelled_canvas(plt: Any, count: int, longest_label: int) -> tuple[Any, Any]:
    """A figure whose axes are tall enough for ``count`` labels a pitch apart, with room right of them for the labels.

    The axes are placed in inches, not by a layout engine, so the pitch computed for them holds when drawn.
    """
    left, bottom, top, gap = 0.9, 0.7, 0.45, 0.25
    width = SCATTER_AXES_INCHES[0]
    height = max(SCATTER_AXES_INCHES[1], count * _pitch_inches())
    label_width = 0.065 * longest_label + 0.2  # 7-pt characters, generously
    size = (left + width + gap + label_width, bottom + height + top)
    figure = plt.figure(figsize=size)
    axes = figure.add_axes((left / size[0], bottom / size[1], width / size[0], height / size[1]))
    return figure, axes


def _pitch_inches() -> float:
    return LABEL_PITCH * SCATTER_FONT / 72


def label_column(
    axes: Any, points: Sequence[tuple[float, float]], labels: Sequence[str], colours: Sequence[str]
) -> None:
    """Each point's label right of the axes, in the order of the points' heights, a pitch apart, with a leader line.

    ``points`` are (x, y) in data coordinates. Points of equal height are taken right to left going up, so their
    leader lines fan out without crossing.
    """
    to_axes = axes.transData + axes.transAxes.inverted()
    heights = [to_axes.transform(point)[1] for point in points]
    order = sorted(range(len(points)), key=lambda i: (heights[i], -points[i][0]))
    axes_inches = axes.get_position().height * axes.figure.get_figheight()
    placed = place_apart([heights[i] for i in order], _pitch_inches() / axes_inches)
    for index, height in zip(order, placed):
        axes.annotate(
            labels[index],
            xy=points[index],
            xytext=(1.03, height),
            textcoords="axes fraction",
            fontsize=SCATTER_FONT,
            va="center",
            color=colours[index],
            annotation_clip=False,
            arrowprops={"arrowstyle": "-", "color": colours[index], "linewidth": 0.6, "alpha": 0.5, "shrinkB": 3},
        )


def place_apart(wanted: Sequence[float], pitch: float, low: float = 0.0, high: float = 1.0) -> list[float]:
    """Positions as near the ascending ``wanted`` ones as can be while at least ``pitch`` apart, kept within
    [low, high] when they fit there: pushed up past their lower neighbours, then down below ``high``."""
    placed: list[float] = []
    for position in wanted:
        placed.append(max(position, placed[-1] + pitch if placed else low))
    ceiling = high
    for index in reversed(range(len(placed))):
        placed[index] = min(placed[index], ceiling)
        ceiling = placed[index] - pitch
    return placed
