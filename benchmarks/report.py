"""Write a result as JSON, CSV and a Markdown report with its PNG plots beside it.

Every file is written in full to a hidden temporary name in the output folder before any is renamed
into place, so a full disk, a kill or Ctrl-C leaves each previous file intact, never half-written.
results.json is renamed last: when it is new, every file beside it is too.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import numpy as np

from brainedge.benchmarks.answers import ANSWER_FIELDS, NEAR, OOD
from brainedge.benchmarks.paired import BUSY_THRESHOLD, DRIFT_SHARE, DRIFT_THRESHOLD, busy
from brainedge.benchmarks.schema import schema_text
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import write_atomically
from brainedge.edge_runtime.metrics import wilson_interval

RESULT_JSON = "results.json"
RESULT_CSV = "results.csv"
REPORT_MD = "report.md"
SCHEMA_JSON = "results.schema.json"
SCATTER_PNG = "accuracy_vs_latency.png"
DISTRIBUTION_PNG = "latency_distribution.png"
RELIABILITY_PNG = "reliability.png"
RISK_COVERAGE_PNG = "risk_coverage.png"
PLOTS = (SCATTER_PNG, DISTRIBUTION_PNG, RELIABILITY_PNG, RISK_COVERAGE_PNG)
OUTPUT_FILES = (RESULT_JSON, RESULT_CSV, SCHEMA_JSON, REPORT_MD, *PLOTS)
"""Everything write_all puts in --out: a folder holding anything else is not an earlier benchmark's."""
ANSWERS_HEADING = "## Answers you can take at their word"

TITLE_WIDTH = 40
"""Characters a line of a reliability panel's title may take (a panel is 4.3 inches wide, the title 9 pt)."""

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
"""Okabe and Ito's colour-blind-safe colours (yellow last: faint on white)."""
LINESTYLES = ("-", "--", "-.", ":")
BEFORE_STYLE = {"color": "#E69F00", "marker": "o", "linestyle": "--", "label": "before calibration (T = 1)"}
AFTER_STYLE = {"color": "#0072B2", "marker": "s", "linestyle": "-", "label": "after calibration (bundle's T)"}

CSV_COLUMNS = (
    "run",
    "device",
    "artifact",
    "format",
    "variant",
    "backend",
    "threads",
    "status",
    "accuracy",
    "macro_f1",
    "agreement",
    "size_bytes",
    "init_ms",
    "first_ms",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "latency_mean_ms",
    "latency_p50_low_ms",
    "latency_p50_high_ms",
    "latency_isolated_p50_ms",
    "drift_change",
    "drift_flagged",
    "throttled",
    "throughput_ips",
    "peak_rss_mb",
    "images",
    "image_errors",
    "error",
    "temperature",
    "ece_before",
    "ece_after",
    "nll_before",
    "nll_after",
    "brier_before",
    "brier_after",
    "referral_threshold",
    "referral_target_accuracy",
    "referral_coverage",
    "referral_accuracy",
    "test_flagged_ood",
    "ood_set_flagged",
    "near_set_flagged",
    "head_ms",
    "ood_ms",
)


def is_result_text(start: bytes) -> bool:
    """Whether a file's first bytes are a results.json of write_all's (what marks a benchmark's folder)."""
    return start.lstrip().startswith(b"{") and b'"schema_version"' in start and b'"runs"' in start


def write_all(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """results.json, results.csv, the schema, report.md and the plots it embeds; returns the paths.

    Every file is first written in full to a hidden staging name, then all are renamed into place,
    results.json last. Renames need no space, so a full disk replaces nothing; a kill replaces each
    file whole or not at all. A plot this result has none of is removed afterwards, so an older one
    is never shown beside a newer report.
    """
    out_dir = Path(out_dir)
    _writing(out_dir, lambda: out_dir.mkdir(parents=True, exist_ok=True))
    _remove_leftovers(out_dir)
    plots = render_plots(result["rows"])
    files = {
        **plots,
        RESULT_CSV: render_csv(result["rows"]).encode("utf-8"),
        SCHEMA_JSON: schema_text().encode("utf-8"),
        REPORT_MD: render_markdown(result, list(plots)).encode("utf-8"),
        RESULT_JSON: (json.dumps(result, indent=1) + "\n").encode("utf-8"),
    }
    staged: dict[str, Path] = {}
    try:
        for name, data in files.items():
            staged[name] = out_dir / f".{name}-staged.tmp"
            _writing(out_dir / name, lambda name=name, data=data: write_atomically(staged[name], data))
        for name, staging in staged.items():
            _writing(out_dir / name, lambda name=name, staging=staging: os.replace(staging, out_dir / name))
    finally:
        for staging in staged.values():
            staging.unlink(missing_ok=True)
    for name in PLOTS:
        if name not in plots:
            _writing(out_dir / name, lambda name=name: (out_dir / name).unlink(missing_ok=True))
    return [out_dir / name for name in (RESULT_JSON, RESULT_CSV, SCHEMA_JSON, REPORT_MD, *plots)]


def _writing(path: Path, write: Callable[[], object]) -> None:
    """Run one write; an OSError (full disk, read-only folder) becomes one line naming the path."""
    try:
        write()
    except OSError as error:
        raise BrainEdgeError(f"{path}: cannot write ({error.strerror or error})") from None


def _remove_leftovers(out_dir: Path) -> None:
    """Hidden temporary files a killed earlier run left beside its results (never under a final name)."""
    for name in OUTPUT_FILES:
        # .NAME-staged.tmp, and ..NAME-staged.tmp-XXXX.tmp from write_atomically while staging it
        for leftover in [*out_dir.glob(f".{name}-*.tmp"), *out_dir.glob(f"..{name}-*.tmp")]:
            try:
                leftover.unlink()
            except OSError:
                pass  # hidden and harmless; not worth failing a finished benchmark over


def csv_record(row: dict[str, Any]) -> dict[str, Any]:
    latency = row.get("latency_ms") or {}
    flat = {**row, **{f"latency_{key}_ms": latency.get(key) for key in ("p50", "p90", "p99", "mean")}}
    paired = row.get("paired") or {}
    low, high = paired.get("p50_interval_ms") or (None, None)
    flat.update(
        latency_p50_low_ms=low,
        latency_p50_high_ms=high,
        latency_isolated_p50_ms=(row.get("latency_isolated_ms") or {}).get("p50"),
        drift_change=(paired.get("drift") or {}).get("change"),
        drift_flagged=(paired.get("drift") or {}).get("flagged"),
        throttled=paired.get("throttled"),
    )
    for when in ("before", "after"):
        scores = row.get(f"calibration_{when}") or {}
        flat.update({f"{name}_{when}": scores.get(name) for name in ("ece", "nll", "brier")})
    referral = row.get("referral") or {}
    flat.update(
        {f"referral_{key}": referral.get(key) for key in ("threshold", "target_accuracy", "coverage", "accuracy")}
    )
    ood_set = row.get("ood_set") or {}
    flat["test_flagged_ood"] = (row.get("test_ood") or {}).get("share")
    flat["ood_set_flagged"] = (ood_set.get(OOD) or {}).get("share")
    flat["near_set_flagged"] = (ood_set.get(NEAR) or {}).get("share")
    return {column: flat.get(column) for column in CSV_COLUMNS}


def render_csv(rows: Sequence[dict[str, Any]]) -> str:
    stream = io.StringIO(newline="")
    writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(csv_record(row) for row in rows)
    return stream.getvalue()


def threads_label(row: dict[str, Any]) -> str:
    """ "2t" for two interpreter threads; rows from elsewhere may leave the count to the backend."""
    return f"{row['threads']}t" if row.get("threads") else "default threads"


def row_label(row: dict[str, Any], with_device: bool, rows: Sequence[dict[str, Any]] = ()) -> str:
    """Artifact, backend and threads, and where it ran (``_where``) when ``with_device``."""
    label = f"{row['artifact']} [{row['backend']}, {threads_label(row)}]"
    return f"{label} @{_where(row, rows)}" if with_device else label


def _where(row: dict[str, Any], rows: Sequence[dict[str, Any]] = ()) -> str:
    """The device a row ran on, with its run id when ``rows`` hold several runs of that device name.

    Merging two results of one machine (the hostname is the default device name) would otherwise
    show two rows of each artifact on "the same" device, indistinguishable.
    """
    device = row.get("device") or row["run"]
    runs = {r["run"] for r in rows if (r.get("device") or r["run"]) == device}
    return f"{device} ({row['run']})" if len(runs) > 1 else device


def _several_devices(rows: Sequence[dict[str, Any]]) -> bool:
    """Whether ``rows`` come from more than one device or run: then each label says where it ran."""
    return len({row["run"] for row in rows}) > 1 or len({row.get("device") for row in rows}) > 1


def render_plots(rows: Sequence[dict[str, Any]]) -> dict[str, bytes]:
    """The accuracy-vs-latency scatter and the latency box plots as PNG bytes; none without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    answered = answer_rows(rows)
    rendered = {
        SCATTER_PNG: _scatter(plt, rows),
        DISTRIBUTION_PNG: _distribution(plt, rows),
        RELIABILITY_PNG: _reliability(plt, answered),
        RISK_COVERAGE_PNG: _risk_coverage(plt, answered),
    }
    return {name: png for name, png in rendered.items() if png is not None}


def _scatter(plt: Any, rows: Sequence[dict[str, Any]]) -> bytes | None:
    figure = scatter_figure(plt, rows)
    return None if figure is None else _png(plt, figure)


def scatter_figure(plt: Any, rows: Sequence[dict[str, Any]]) -> Any:
    """Accuracy against p50 latency with their 95% intervals as error bars, and a label per point.

    Bundles of similar latency and accuracy sit on top of each other, so the labels stand in a column
    right of the plot, at least a line apart and as near their points' heights as that allows, each
    joined to its point by a thin line: they never overlap. None when no row has both figures.
    """
    points = [
        r
        for r in rows
        if r["status"] == "ok" and r.get("accuracy") is not None and (r.get("latency_ms") or {}).get("p50") is not None
    ]
    if not points:
        return None
    with_device = _several_devices(points)
    labels = [row_label(r, with_device, points) for r in points]
    figure, axes = _scatter_canvas(plt, len(points), max(len(label) for label in labels))
    colours = _point_colours(points, with_device)
    for row, colour in zip(points, colours):
        axes.errorbar(
            [row["latency_ms"]["p50"]],
            [100 * row["accuracy"]],
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
        seen = dict(zip((_where(r, points) for r in points), colours))
        handles = [plt.Line2D([], [], marker="o", linestyle="none", color=c, label=d) for d, c in sorted(seen.items())]
        axes.legend(handles=handles, title="device", fontsize=8)
    axes.autoscale_view()
    _label_column(axes, points, labels, colours)
    return figure


LABEL_COLOURS = PALETTE[:-1]
"""The palette without its yellow, too faint for text."""


def _point_colours(points: Sequence[dict[str, Any]], with_device: bool) -> list[str]:
    """One colour per device when there are several (the legend names them), else one per point, so that a
    label's colour leads to its point in a cluster."""
    if not with_device:
        return [LABEL_COLOURS[index % len(LABEL_COLOURS)] for index in range(len(points))]
    devices = sorted({_where(r, points) for r in points})
    return [LABEL_COLOURS[devices.index(_where(r, points)) % len(LABEL_COLOURS)] for r in points]


SCATTER_FONT = 7
"""Points of the scatter's labels."""
LABEL_PITCH = 1.4
"""Distance between neighbouring labels' centres, in label heights (a line of 7-pt text is about 1.2 of them)."""
SCATTER_AXES_INCHES = (5.6, 4.2)


def _scatter_canvas(plt: Any, count: int, longest_label: int) -> tuple[Any, Any]:
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


def _label_column(axes: Any, points: Sequence[dict[str, Any]], labels: Sequence[str], colours: Sequence[str]) -> None:
    """Each point's label right of the axes, in the order of the points' heights, a pitch apart, with a leader line.

    Points of equal height are taken right to left going up, so their leader lines fan out without crossing.
    """
    to_axes = axes.transData + axes.transAxes.inverted()
    heights = [to_axes.transform((r["latency_ms"]["p50"], 100 * r["accuracy"]))[1] for r in points]
    order = sorted(range(len(points)), key=lambda i: (heights[i], -points[i]["latency_ms"]["p50"]))
    axes_inches = axes.get_position().height * axes.figure.get_figheight()
    placed = spread([heights[i] for i in order], _pitch_inches() / axes_inches)
    for index, height in zip(order, placed):
        row = points[index]
        axes.annotate(
            labels[index],
            xy=(row["latency_ms"]["p50"], 100 * row["accuracy"]),
            xytext=(1.03, height),
            textcoords="axes fraction",
            fontsize=SCATTER_FONT,
            va="center",
            color=colours[index],
            annotation_clip=False,
            arrowprops={"arrowstyle": "-", "color": colours[index], "linewidth": 0.6, "alpha": 0.5, "shrinkB": 3},
        )


def spread(wanted: Sequence[float], pitch: float, low: float = 0.0, high: float = 1.0) -> list[float]:
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


def _latency_error(row: dict[str, Any]) -> tuple[float, float]:
    """How far the p50's 95% interval reaches below and above it (nothing for a row without interleaved rounds)."""
    interval = (row.get("paired") or {}).get("p50_interval_ms")
    if not interval:
        return (0.0, 0.0)
    p50 = row["latency_ms"]["p50"]
    return (max(p50 - interval[0], 0.0), max(interval[1] - p50, 0.0))


def _accuracy_error(row: dict[str, Any]) -> tuple[float, float]:
    """How far accuracy's 95% Wilson interval reaches below and above it, in points (nothing without a count)."""
    images = row.get("images")
    if not images:
        return (0.0, 0.0)
    low, high = wilson_interval(round(row["accuracy"] * images), images)
    return (100 * (row["accuracy"] - low), 100 * (high - row["accuracy"]))


def _distribution(plt: Any, rows: Sequence[dict[str, Any]]) -> bytes | None:
    measured = [r for r in rows if r["status"] == "ok" and r.get("latency_samples_ms")]
    if not measured:
        return None
    with_device = _several_devices(measured)
    figure, axes = plt.subplots(figsize=(8, 1.2 + 0.45 * len(measured)))
    horizontal = {"orientation": "horizontal"} if _matplotlib_at_least(plt, 3, 10) else {"vert": False}
    axes.boxplot(
        [r["latency_samples_ms"] for r in measured], showfliers=True, flierprops={"markersize": 2}, **horizontal
    )
    axes.set_yticks(range(1, len(measured) + 1), [row_label(r, with_device, measured) for r in measured], fontsize=7)
    axes.invert_yaxis()
    axes.set_xlabel("invoke latency per run (ms)")
    axes.set_title("Steady-state latency distribution")
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return _png(plt, figure)


def _reliability(plt: Any, rows: Sequence[dict[str, Any]]) -> bytes | None:
    figure = reliability_figure(plt, rows)
    return None if figure is None else _png(plt, figure)


def reliability_figure(plt: Any, rows: Sequence[dict[str, Any]]) -> Any:
    """Per bundle: accuracy against confidence per bin before and after calibration, the diagonal, and bin counts.

    Sized in inches from the number of panels (at most three a line) and the legend's lines, so that
    one bundle gets a figure as legible as several: a legend three entries wide would not fit above a
    single panel, so there it takes one entry a line. None when no row has reliability bins.
    """
    drawn = [r for r in rows if r.get("reliability")]
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
        _reliability_panel(top, bottom, row, _answer_label(row, drawn), first_column=column == 0)
    legend = figure.add_subplot(grid[0, :])
    legend.axis("off")
    handles = [
        plt.Line2D([], [], color="#777777", linestyle=":", label="perfectly calibrated"),
        plt.Line2D([], [], **BEFORE_STYLE),
        plt.Line2D([], [], **AFTER_STYLE),
    ]
    legend.legend(handles=handles, loc="center", ncol=legend_columns, frameon=False, fontsize=9)
    return figure


def _reliability_panel(top: Any, bottom: Any, row: dict[str, Any], label: str, first_column: bool) -> None:
    bins = row["reliability"]
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
    before, after = row.get("calibration_before") or {}, row.get("calibration_after") or {}
    temperature = f"T = {_fmt(row.get('temperature'))}"
    if row.get("temperature") == 1.0:
        temperature += " (the curves coincide)"
    top.set_title(
        f"{textwrap.fill(label, TITLE_WIDTH)}\n{temperature}, "
        f"ECE {_fmt(before.get('ece'), 1, 3)} → {_fmt(after.get('ece'), 1, 3)}",
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


def _risk_coverage(plt: Any, rows: Sequence[dict[str, Any]]) -> bytes | None:
    """Per bundle: error rate of the accepted answers against the share accepted, the referral point marked.

    Answers refused as out-of-distribution are accepted at no threshold: each curve ranks the others and
    ends at the share of test images not refused.
    """
    drawn = [r for r in rows if r.get("risk_coverage")]
    if not drawn:
        return None
    figure = plt.figure(figsize=(8, 5.2 + 0.22 * len(drawn)), constrained_layout=True)
    grid = figure.add_gridspec(2, 1, height_ratios=[5.0, 0.45 + 0.22 * len(drawn)])
    axes = figure.add_subplot(grid[0])
    handles = []
    for index, row in enumerate(drawn):
        colour = PALETTE[index % len(PALETTE)]
        style = LINESTYLES[index % len(LINESTYLES)]  # coinciding curves (the same model) still show apart
        curve = row["risk_coverage"]
        referral = row.get("referral") or {}
        label = _answer_label(row, drawn)
        if referral.get("accuracy") is not None:
            label += (
                f": threshold {_fmt(referral['threshold'])} keeps {_fmt(referral['coverage'], 100, 1)}%"
                f" at {_fmt(1 - referral['accuracy'], 100, 1)}% error"
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
    return _png(plt, figure)


def _png(plt: Any, figure: Any) -> bytes:
    """The figure as PNG bytes, rendered in memory so that writing it is one atomic step."""
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=120)
    finally:
        plt.close(figure)
    return buffer.getvalue()


def _matplotlib_at_least(plt: Any, major: int, minor: int) -> bool:
    """``vert=`` was replaced by ``orientation=`` in matplotlib 3.10."""
    version = plt.matplotlib.__version__.split(".")
    return (int(version[0]), int(version[1])) >= (major, minor)


def _fmt(value: Any, scale: float = 1.0, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value * scale:.{digits}f}"


def _table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
    rendered = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rendered += ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in lines]
    return "\n".join(rendered) + "\n"


def render_markdown(result: dict[str, Any], plots: Sequence[str]) -> str:
    """The human report: devices, one table for every row, ratios, failures, plots, method."""
    parts = [
        "# BrainEdge benchmark\n",
        f"Schema version {result['schema_version']}; {len(result['rows'])} row(s) from {len(result['runs'])} run(s).\n",
        "## Devices and commands\n",
        _runs_table(result["runs"]),
    ]
    for run in result["runs"]:
        parts.append(f"Run `{run['id']}` ({run['created']}):\n\n```\n{run['command']}\n```\n")
        if run.get("test_set"):
            parts.append(f"Test set: {_test_set(run['test_set'])}\n")
        if run.get("ood_set"):
            parts.append(f"OOD set (never in accuracy): {_ood_set(run['ood_set'])}\n")
    parts += ["## Results\n", _rows_table(result["rows"])]
    if result["ratios"]:
        parts += ["## Quantized vs float32 (same run, same thread count)\n", _ratios_table(result["ratios"])]
    parts += interleaved_section(result)
    answered = answer_rows(result["rows"])
    if answered:
        parts += answers_section(answered, plots)
    failed = [r for r in result["rows"] if r["status"] == "failed"]
    if failed:
        parts.append("## Failures\n")
        parts.append("".join(f"- {row_label(r, True, result['rows'])}: {r['error']}\n" for r in failed))
    unreadable = unreadable_images(result["rows"])
    if unreadable:
        parts.append("## Unreadable test images (counted as wrong)\n")
        parts.append("".join(f"- `{path}`: {error}\n" for path, error in unreadable.items()))
    unreadable_ood = unreadable_ood_images(result["rows"])
    if unreadable_ood:
        parts.append("## Unreadable OOD-set images (left out of the OOD-set shares)\n")
        parts.append("".join(f"- `{path}`: {error}\n" for path, error in unreadable_ood.items()))
    titles = {SCATTER_PNG: "Accuracy vs p50 latency", DISTRIBUTION_PNG: "Latency distribution per artifact"}
    general = [name for name in plots if name in titles]
    if general:
        parts.append("## Plots\n")
        parts += [f"![{titles[name]}]({name})\n" for name in general]
    else:
        parts.append("_No plots: nothing to plot, or matplotlib is not installed (`pip install matplotlib`)._\n")
    parts += ["## Method\n", METHOD]
    return "\n".join(parts)


def answer_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per bundle and run that reports on its answers (a bundle with a head): its first, in order.

    The answers of one bundle do not depend on the thread count or the backend, so one row stands for them.
    """
    chosen: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        if row.get("status") == "ok" and any(row.get(name) is not None for name in ANSWER_FIELDS):
            chosen.setdefault((row["run"], row["artifact"]), row)
    return list(chosen.values())


def _answer_label(row: dict[str, Any], rows: Sequence[dict[str, Any]]) -> str:
    """The bundle, and where it ran (device, and run when one device has several) when ``rows`` come from several."""
    return f"{row['artifact']} @{_where(row, rows)}" if _several_devices(rows) else row["artifact"]


def answers_section(rows: Sequence[dict[str, Any]], plots: Sequence[str]) -> list[str]:
    """The table of calibration, referral and refusal per bundle, what each column means, the refusals per
    OOD-set folder and per true class, and the two plots."""
    lines = []
    for r in rows:
        before, after = r.get("calibration_before") or {}, r.get("calibration_after") or {}
        referral = r.get("referral") or {}
        ood_set = r.get("ood_set") or {}
        lines.append(
            [
                _answer_label(r, rows),
                _fmt(r.get("temperature"), 1, 3),
                *(_before_after(before.get(name), after.get(name)) for name in ("ece", "nll", "brier")),
                _threshold(referral),
                _fmt(referral.get("coverage"), 100, 1) + (OLDER_REFERRAL if _older_referral(referral) else ""),
                _fmt(referral.get("accuracy"), 100, 1) + (OLDER_REFERRAL if _older_referral(referral) else ""),
                _share(r.get("test_ood")),
                _share(ood_set.get(OOD)),
                _share(ood_set.get(NEAR)),
                f"{_fmt(r.get('head_ms'), 1, 3)} / {_fmt(r.get('ood_ms'), 1, 3)}",
            ]
        )
    parts = [
        f"{ANSWERS_HEADING}\n",
        "Whether a bundle's probabilities mean what they say, which answers it refers for review, and which "
        "inputs it refuses as unlike its training images. Bundles without a head (schema 1) cannot say; "
        "they are not listed. Computed over the test images that decode.\n",
        _table(
            (
                "bundle",
                "temperature",
                "ECE before → after",
                "NLL before → after",
                "Brier before → after",
                "referral threshold",
                "coverage %",
                "accepted accuracy %",
                "test flagged OOD %",
                "OOD set flagged % (ood)",
                "OOD set flagged % (near)",
                "head / OOD ms",
            ),
            lines,
        ),
        ANSWER_COLUMNS,
    ]
    if any(_older_referral(r.get("referral") or {}) for r in rows):
        parts.append(
            f"{OLDER_REFERRAL} From a result file written before answers refused as out-of-distribution were kept "
            "out of the accepted ones: its coverage, accepted accuracy and risk-coverage curve count them as "
            "accepted when confident enough (run brainedge-bench again for the definition above).\n"
        )
    groups = [r for r in rows if r.get("ood_set")]
    if groups:
        sources = {r["ood_set"]["source"] for r in groups}
        one_source = len(sources) == 1
        parts.append(
            (f"OOD set `{sources.pop()}`, " if one_source else "OOD sets, ") + "share refused per top-level folder:\n"
        )
        parts.append(
            "".join(
                f"- {_answer_label(r, rows)}"
                + ("" if one_source else f" (`{r['ood_set']['source']}`)")
                + f": {_groups(r['ood_set'])}\n"
                for r in groups
            )
        )
        unreadable = unreadable_ood_images(groups)
        if unreadable:
            parts.append(
                f"{len(unreadable)} OOD-set image(s) could not be read: left out of every share above "
                "(listed under *Unreadable OOD-set images*).\n"
            )
    by_class = [r for r in rows if (r.get("test_ood") or {}).get("per_class")]
    if by_class:
        parts.append("Test images refused as out-of-distribution, per true class (refused/images of that class):\n")
        parts.append(
            "".join(
                f"- {_answer_label(r, rows)}: "
                + "; ".join(f"{c['name']} {_share(c, '%')}" for c in r["test_ood"]["per_class"])
                + "\n"
                for r in by_class
            )
        )
    titles = {
        RELIABILITY_PNG: "Reliability diagram per bundle, before and after calibration",
        RISK_COVERAGE_PNG: "Error rate against coverage per bundle, referral threshold marked",
    }
    parts += [f"![{titles[name]}]({name})\n" for name in plots if name in titles]
    return parts


OLDER_REFERRAL = "†"
"""Marks coverage and accepted accuracy from an older result file, where refused answers could be accepted."""


def _older_referral(referral: dict[str, Any]) -> bool:
    """A referral record written before ``refused`` was: its accepted answers may include refused ones."""
    return bool(referral) and "refused" not in referral


def _before_after(before: float | None, after: float | None) -> str:
    return "–" if before is None and after is None else f"{_fmt(before, 1, 3)} → {_fmt(after, 1, 3)}"


def _threshold(referral: dict[str, Any]) -> str:
    if not referral:
        return "–"
    target = referral.get("target_accuracy")
    text = _fmt(referral.get("threshold"), 1, 3)
    return f"{text} (target {_fmt(target, 100, 1)}%)" if target is not None else f"{text} (no target)"


def _share(counted: dict[str, Any] | None, unit: str = "") -> str:
    if not counted or counted.get("share") is None:
        return "–"
    return f"{_fmt(counted['share'], 100, 1)}{unit} ({counted['flagged']}/{counted['images']})"


def _groups(ood_set: dict[str, Any]) -> str:
    described = []
    for group in ood_set["groups"]:
        kind = group["kind"] or "not in sources.json"
        unreadable = f", {group['unreadable']} unreadable" if group["unreadable"] else ""
        described.append(f"`{group['name']}/` ({kind}) {_share(group, '%')}{unreadable}")
    return "; ".join(described)


ANSWER_COLUMNS = """\
- **temperature**: the bundle's fitted temperature T; calibrated probabilities are softmax(logits / T).
- **ECE before → after**: expected calibration error (15 equal-width confidence bins; the gap between
  confidence and accuracy, weighted by each bin's share of images) at T = 1 and at the bundle's T; lower is better.
- **NLL before → after**: mean negative log-likelihood of the true class; lower is better.
- **Brier before → after**: mean squared distance of the probabilities from the one-hot truth (0 best, 2 worst).
- **referral threshold**: the bundle's confidence threshold (below it an answer is "uncertain — refer for
  review") and the validation accuracy it was chosen to reach, when export chose it.
- **coverage %**: share of the test images (all that decode) whose answer is accepted: not refused as
  out-of-distribution, and with a calibrated top-1 confidence that reaches the threshold.
- **accepted accuracy %**: accuracy of those accepted answers alone.
- **test flagged OOD %**: share of the in-distribution test images the bundle refuses as out-of-distribution,
  what refusal costs on real inputs (flagged/images); such images still count in ECE, NLL and Brier, but
  never as accepted.
- **risk-coverage plot**: the error rate of the accepted answers against coverage, as the threshold falls;
  only answers not refused as out-of-distribution are ranked, and coverage is over all the test images that
  decode, so a curve ends at the share not refused, not at 100%.
- **OOD set flagged % (ood)**: share of the `--ood-set` images in folders of kind "ood" that it refuses;
  higher is better. **(near)**: the same over folders of kind "near" (resembling the training domain), apart.
- **head / OOD ms**: median time of the bundle's head on the latency input's feature map (pooling, dense
  layers and OOD distance), and of the OOD distance alone; part of every answer, beside the invoke latency.
"""


def unreadable_ood_images(rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Every OOD-set image some row could not decode, with the first reason given, in order of appearance."""
    found: dict[str, str] = {}
    for row in rows:
        for image in (row.get("ood_set") or {}).get("unreadable_images") or []:
            found.setdefault(image["path"], image["error"])
    return found


def unreadable_images(rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Every test image some row could not decode, with the first reason given, in order of appearance."""
    found: dict[str, str] = {}
    for row in rows:
        for image in row.get("unreadable_images") or []:
            found.setdefault(image["path"], image["error"])
    return found


def _runs_table(runs: Sequence[dict[str, Any]]) -> str:
    lines = []
    for run in runs:
        device = run["device"]
        packages = device.get("packages") or {}
        temperature = device.get("temperature_c")
        lines.append(
            [
                run["id"],
                _text(device.get("name")),
                _text(device.get("cpu")),
                _text(device.get("cores")),
                _text(device.get("arch")),
                _text(device.get("os")),
                _text(device.get("python")),
                _litert(packages),
                _text(packages.get("onnxruntime")),
                str(device.get("cpu_governor") or "–"),
                "–" if temperature is None else f"{temperature:.1f} °C",
                _fmt(device.get("load_average_1m")),
            ]
        )
    return _table(
        (
            "run",
            "device",
            "CPU",
            "cores",
            "arch",
            "OS",
            "Python",
            "LiteRT",
            "ONNX Runtime",
            "governor",
            "temperature",
            "load (1 min)",
        ),
        lines,
    )


def _text(value: Any) -> str:
    return "–" if value is None else str(value)


def _litert(packages: dict[str, Any]) -> str:
    """The LiteRT version: the pip package on a computer, the Maven artifact in the Android app."""
    if packages.get("ai-edge-litert"):
        return str(packages["ai-edge-litert"])
    if packages.get("litert-android"):
        return f"{packages['litert-android']} (Android)"
    return "–"


def _test_set(test_set: dict[str, Any]) -> str:
    """`source`, N images (class: n, ...) from a desktop's or the phone's test_set record, and how they were chosen."""
    per_class = test_set.get("per_class") or {}
    classes = ", ".join(f"{name}: {count}" for name, count in per_class.items())
    text = f"`{test_set.get('source')}`, {test_set.get('images')} images" + (f" ({classes})" if classes else "")
    if test_set.get("limit") is not None:
        text += (
            f"; --limit {test_set['limit']}: {test_set.get('images')} of the {test_set.get('available')} available,"
            " spread evenly over them in order"
        )
    if test_set.get("leaked_left_out"):
        text += (
            f"; {test_set['leaked_left_out']} test image(s) with a near-duplicate in train/val were left out"
            " of the available ones (--include-leaked keeps them)"
        )
    return text


def _ood_set(ood_set: dict[str, Any]) -> str:
    """`source`, N images (group: n kind, ...) from a run's ood_set record."""
    groups = ", ".join(f"{g['name']}: {g['images']} {g['kind'] or 'unlisted'}" for g in ood_set.get("groups") or [])
    return f"`{ood_set.get('source')}`, {ood_set.get('images')} images" + (f" ({groups})" if groups else "")


def _rows_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = []
    for r in rows:
        latency = r.get("latency_ms") or {}
        lines.append(
            [
                _where(r, rows),
                r["artifact"],
                r["format"],
                r["backend"],
                str(r["threads"] or "default"),
                _fmt(r.get("accuracy"), 100, 1),
                _fmt(r.get("macro_f1"), 100, 1),
                _fmt(r.get("agreement"), 100, 1),
                _fmt(r.get("size_bytes"), 1e-6, 2),
                _fmt(r.get("init_ms"), 1, 1),
                _fmt(r.get("first_ms")),
                _with_interval(latency.get("p50"), (r.get("paired") or {}).get("p50_interval_ms")),
                *(_fmt(latency.get(key)) for key in ("p90", "p99", "mean")),
                _drift(r.get("paired")),
                _fmt(r.get("throughput_ips"), 1, 1),
                _fmt(r.get("peak_rss_mb"), 1, 1),
                r["status"],
            ]
        )
    return _table(
        (
            "device",
            "artifact",
            "format",
            "backend",
            "threads",
            "accuracy %",
            "macro-F1 %",
            "agreement %",
            "size MB (10⁶ B)",
            "init ms",
            "first ms",
            "p50 ms (95% interval)",
            "p90 ms",
            "p99 ms",
            "mean ms",
            "drift",
            "img/s e2e",
            "peak RSS MB",
            "status",
        ),
        lines,
    )


def _ratios_table(ratios: Sequence[dict[str, Any]]) -> str:
    lines = [
        [
            _where(r, ratios),
            r["artifact"],
            r["reference"],
            r["backend"],
            str(r["threads"] or "default"),
            _with_interval(r["latency_p50_ratio"], _ratio_interval(r), 3)
            + (f" {DRIFT_FLAG}" if r.get("drift_flagged") else ""),
            _fmt(r["size_ratio"], 1, 3),
            _fmt(r["accuracy_delta"], 100, 2),
        ]
        for r in ratios
    ]
    return _table(
        (
            "device",
            "artifact",
            "vs float32",
            "backend",
            "threads",
            "p50 latency × (95% interval)",
            "size ×",
            "accuracy Δ (points)",
        ),
        lines,
    )


def _ratio_interval(ratio: dict[str, Any]) -> list[float] | None:
    """A paired ratio's interval; None for a ratio of two p50s (older files, imports, the app, other phases)."""
    low, high = ratio.get("latency_ratio_low"), ratio.get("latency_ratio_high")
    return None if low is None or high is None else [low, high]


def _with_interval(value: float | None, interval: Sequence[float] | None, digits: int = 2) -> str:
    text = _fmt(value, 1, digits)
    return text if value is None or not interval else f"{text} ({interval[0]:.{digits}f}–{interval[1]:.{digits}f})"


DRIFT_FLAG = "⚠"


def _drift(paired: dict[str, Any] | None) -> str:
    """The change from the first rounds to the last, flagged beyond the threshold or when the SoC throttled;
    "isolated" when the interleaved phase could not time the row (its latency is then its own process's)."""
    if paired is None:
        return "–"
    if paired.get("error"):
        return "isolated"
    found = paired.get("drift")
    change = "–" if found is None else f"{100 * found['change']:+.1f}%"
    flags = [
        word
        for word, raised in (
            ("drift", found is not None and found["flagged"]),
            ("throttled", paired.get("throttled")),
            ("busy", busy(paired)),
        )
        if raised
    ]
    return change + (f" {DRIFT_FLAG} " + ", ".join(flags) if flags else "")


def interleaved_section(result: dict[str, Any]) -> list[str]:
    """Per run and phase: how it was timed, the device's temperature and throttling around it, the rows flagged
    for drift, and the rows it could not time; nothing for a result without interleaved rows."""
    phases: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in result["rows"]:
        if row.get("paired"):
            phases.setdefault((row["run"], row["paired"]["phase"]), []).append(row)
    if not phases:
        return []
    settings = {run["id"]: run.get("settings") or {} for run in result["runs"]}
    lines = []
    for (run, phase), rows in phases.items():
        lines.append(f"- Run `{run}`, `{phase}`: {_phase_summary(rows, settings[run])}\n")
        lines += [f"  - {line}\n" for line in _phase_findings(rows)]
    return ["## Interleaved latency\n", "".join(lines)]


def _phase_summary(rows: Sequence[dict[str, Any]], settings: dict[str, Any]) -> str:
    rounds = max(len(r["paired"]["round_ms"]) for r in rows)
    text = f"{len(rows)} artifact(s), {rounds} rounds"
    if settings.get("block") is not None:
        text += f" of {settings['block']} timed invokes each"
        text += f" after {settings['settle']} untimed ones" if settings.get("settle") else ""
        text += f", in a random order per round (seed {settings.get('seed')})"
    before, after = rows[0]["paired"].get("device_before") or {}, rows[0]["paired"].get("device_after") or {}
    if before.get("temperature_c") is not None and after.get("temperature_c") is not None:
        text += f"; SoC {before['temperature_c']:.1f} → {after['temperature_c']:.1f} °C"
    if before.get("throttled") is not None or after.get("throttled") is not None:
        text += f"; `vcgencmd get_throttled` {before.get('throttled') or '–'} → {after.get('throttled') or '–'}"
    if rows[0]["paired"].get("others_cores") is not None:
        text += f"; other processes used {rows[0]['paired']['others_cores']:.2f} cores on average"
    return text + "."


def _phase_findings(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One line per row flagged for drift or throttling, or timed in its own process only, and one if others were
    busy; "no drift" if none of these."""
    findings = []
    if busy(rows[0]["paired"]):
        findings.append(
            f"{DRIFT_FLAG} other processes used {rows[0]['paired']['others_cores']:.2f} cores on average during the "
            f"phase (more than {BUSY_THRESHOLD}): they contend for the caches and memory too, which slows some models "
            "more than others, so even paired ratios shift"
        )
    for row in rows:
        paired, label = row["paired"], f"{row['artifact']} [{row['backend']}, {threads_label(row)}]"
        if paired.get("error"):
            findings.append(f"{label}: not timed interleaved ({paired['error']}); its latency is its own process's")
            continue
        found = paired.get("drift") or {}
        if found.get("flagged"):
            findings.append(
                f"{DRIFT_FLAG} {label}: drift {100 * found['change']:+.1f}% "
                f"({found['first_ms']:.2f} → {found['last_ms']:.2f} ms, first to last fifth of the rounds)"
            )
        if paired.get("throttled"):
            findings.append(f"{DRIFT_FLAG} {label}: the SoC was throttled during the phase")
    return findings or [f"no drift beyond ±{DRIFT_THRESHOLD:.0%}, no throttling, no other busy processes"]


METHOD = f"""\
Two kinds of process measure. Each artifact × backend × thread count first runs alone in a fresh
subprocess (*isolated*): init, first, img/s, accuracy, macro-F1, agreement, peak RSS and the answers'
figures come from there. Then one process per backend and thread count loads every artifact that ran
fine and times their invoke latency *interleaved*: p50/p90/p99/mean, drift, the plots' latency and
the ratios come from there. The rounds are split over several fresh processes in turn (the run's
*processes* setting): a process's memory layout shifts its figures by a few percent, so the
intervals are taken over the processes' medians and include that shift.

- **init**: constructing the `edge_runtime.Classifier` (read and hash-check the bundle, load the
  interpreter, allocate tensors). **first**: the first invoke after that.
- **p50/p90/p99/mean**: invoke-only latency (set input, invoke, read output; the head is apart, in
  *head / OOD ms*) on one fixed preprocessed image (the first test image that decodes), over every
  timed invoke of the interleaved phase: after the warm-up invokes, each round runs every artifact
  once, in a seeded random order, as *settle* untimed invokes then *block* timed ones (the untimed
  ones refill the CPU caches the artifact before took over), so the timed ones are the steady state an isolated run
  measures (rounds, block, settle and seed are in each run's settings). A machine that slows down or
  speeds up (other load, a throttling SoC, a governor) then slows every artifact of that round
  alike, not whichever was being measured. In brackets: a distribution-free interval (binomial order
  statistics, at least 95%) of the median of the processes' medians of the artifact's per-round
  medians (with one process, of the per-round medians). A row the phase could not time keeps the
  latency of its isolated run (drift says "isolated"); every row's isolated latency is in
  results.json as `latency_isolated_ms`.
- **p50 latency ×**: per process, the median over its rounds of the artifact's round median divided
  by the reference's in the same round (a change of the machine's speed dividing out); the figure is
  the median of the processes' values, with a distribution-free interval (at least 95%) of it;
  {DRIFT_FLAG} when either row is flagged for drift. Rows not timed in one phase (LiteRT imports, the
  Android app, older result files) get the ratio of their p50s, without an interval.
- **drift**: the change of the artifact's median from the first {DRIFT_SHARE:.0%} of the rounds to
  the last {DRIFT_SHARE:.0%}. Beyond ±{DRIFT_THRESHOLD:.0%} it is flagged {DRIFT_FLAG}: the machine changed
  speed during the phase, so this row's absolute latencies describe neither state; its ratios stay
  paired, but rerun on a quiet (or cooled) device before trusting the run. On a Raspberry Pi,
  *Interleaved latency* gives the SoC temperature and `vcgencmd get_throttled` before and after the
  phase; a throttling, capping or under-voltage bit set at the end, or set during the phase, is
  flagged "{DRIFT_FLAG} throttled". Where `/proc/stat` can say (Linux), the section also gives the cores'
  worth of CPU other processes (on a VM, other guests too) used during the phase; above
  {BUSY_THRESHOLD} it is flagged "{DRIFT_FLAG} busy": they contend for the caches and memory too, which slows
  some models more than others, so even paired ratios shift.
- **img/s e2e**: end-to-end throughput over the labelled test set (decode, preprocess, invoke, rank),
  one image at a time. **accuracy**, **macro-F1**: on that set; an unreadable image counts as wrong.
- **agreement**: share of test images whose top-1 equals the float32 reference artifact's top-1.
- **peak RSS**: peak resident memory of the fresh subprocess that measured the row (Python, numpy,
  Pillow, the interpreter and the model together): `VmHWM` on Linux (`ru_maxrss` there would include
  the parent's memory, which Linux carries across fork and exec), `ru_maxrss` elsewhere.
- **accuracy vs latency plot**: its error bars are the p50's interval (as in the table) and accuracy's
  95% Wilson interval.
- Rows imported from LiteRT `benchmark_model` logs report its *Init*, *First inference*, average and
  (newer versions) median; it gives no p90/p99 and no accuracy.
"""
