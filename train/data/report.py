"""The audit written out: ``audit.json`` (the facts), ``report.md`` (the same, for people) and plots.

Plots are PNGs next to the report (class balance; a contact sheet of the largest and the
most alarming duplicate groups), drawn with matplotlib's Agg backend. Without matplotlib
the report is still written, with a note instead of the plots.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import shown, write_output
from brainedge.edge_runtime.preprocess import decode_rgb
from brainedge.train.data.audit import Audit, listed_groups

REPORT_FILE = "report.md"
JSON_FILE = "audit.json"
BALANCE_PLOT = "class_balance.png"
GROUPS_PLOT = "duplicate_groups.png"
OUTPUT_FILES = (REPORT_FILE, JSON_FILE, BALANCE_PLOT, GROUPS_PLOT)
"""Everything write_report puts in its folder."""
SHEET_ROWS = 8
SHEET_COLUMNS = 6
THUMBNAIL = 128


def write_report(audit: Audit, facts: dict[str, Any], out_dir: Path) -> Path:
    """Write JSON, plots and Markdown into ``out_dir``; returns the Markdown path.

    Each file is written atomically, so a kill or a full disk leaves the previous file whole.
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BrainEdgeError(f"{shown(out_dir)}: cannot create the report folder ({error.strerror or error})") from None
    write_output(out_dir / JSON_FILE, (json.dumps(facts, indent=2) + "\n").encode("utf-8"))
    plots = _draw_plots(audit, facts, out_dir)
    report = out_dir / REPORT_FILE
    write_output(report, render_markdown(facts, plots).encode("utf-8", "backslashreplace"))
    return report


def _save_figure(figure: Any, path: Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    write_output(path, buffer.getvalue())


def _draw_plots(audit: Audit, facts: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """{plot name: file name} of the plots drawn; {} when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    plots = {"balance": BALANCE_PLOT}
    _plot_balance(plt, facts, out_dir / BALANCE_PLOT)
    if _plot_groups(plt, audit, out_dir / GROUPS_PLOT):
        plots["groups"] = GROUPS_PLOT
    return plots


def _plot_balance(plt: Any, facts: dict[str, Any], path: Path) -> None:
    by_part = facts["classes"]["by_part"]
    classes = list(facts["classes"]["total"])
    positions = np.arange(len(classes))
    width = 0.8 / max(len(by_part), 1)
    figure, axes = plt.subplots(figsize=(max(4.0, 1.2 * len(classes) + 2), 3.2), dpi=100)
    for offset, (part, counts) in enumerate(by_part.items()):
        heights = [counts.get(name, 0) for name in classes]
        bars = axes.bar(positions + (offset - (len(by_part) - 1) / 2) * width, heights, width, label=part)
        axes.bar_label(bars, fontsize=7)
    axes.set_xticks(positions, classes, rotation=20 if len(classes) > 6 else 0)
    axes.set_ylabel("readable images")
    axes.set_title(f"Class balance (largest / smallest = {facts['classes']['imbalance_ratio']})")
    if len(by_part) > 1:
        axes.legend(fontsize=8)
    figure.tight_layout()
    _save_figure(figure, path)
    plt.close(figure)


def _thumbnail(path: Path) -> np.ndarray:
    image = Image.fromarray(decode_rgb(path))
    image.thumbnail((THUMBNAIL, THUMBNAIL))
    return np.asarray(image)


def _plot_groups(plt: Any, audit: Audit, path: Path) -> bool:
    """Contact sheet, one duplicate group per row; False (nothing drawn) when there are none."""
    groups = listed_groups(audit, audit.groups())[:SHEET_ROWS]
    if not groups:
        return False
    images = audit.dataset.images
    columns = min(SHEET_COLUMNS, max(len(members) for _, members in groups))
    figure, grid = plt.subplots(
        len(groups), columns, figsize=(max(1.7 * columns, 5.0), 1.95 * len(groups) + 0.4), dpi=100, squeeze=False
    )
    for row, (group, members) in enumerate(groups):
        mixed = len({images[i].label for i in members}) > 1
        for column, axes in enumerate(grid[row]):
            axes.axis("off")
            if column >= len(members):
                continue
            image = images[members[column]]
            axes.imshow(_thumbnail(image.path))
            title = f"{image.label} | {image.part}"
            if column == 0:
                title = f"group {group[:8]} ({len(members)} images)\n{title}"
            axes.set_title(title, fontsize=7, color="red" if mixed else "black")
    figure.suptitle(
        "Duplicate groups: mixed-label and cross-part first, then the largest\n(red: members carry different labels)",
        fontsize=9,
    )
    figure.tight_layout()
    _save_figure(figure, path)
    plt.close(figure)
    return True


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _counts_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{key}: {value}" for key, value in counts.items()) or "none"


def _summary(facts: dict[str, Any]) -> list[str]:
    near, exact = facts["near_duplicates"], facts["exact_duplicates"]
    lines = [
        f"- **{facts['readable_images']:,}** readable images of {facts['images']:,} "
        f"({len(facts['unreadable'])} unreadable, {len(facts['non_images'])} non-image files ignored), "
        f"{len(facts['classes']['total'])} classes, parts: {', '.join(facts['parts'])}.",
        f"- **{near['images']:,}** images ({near['images'] / max(facts['readable_images'], 1):.1%}) are in "
        f"{near['groups']:,} near-duplicate groups ({near['hash']}, Hamming distance <= {near['threshold']}); "
        f"largest group: {near['largest_group']}.",
        f"- **{exact['images']:,}** images are byte-identical copies ({exact['groups']:,} groups).",
        f"- {near['mixed_label_groups']} duplicate group(s) carry more than one label.",
    ]
    if len(facts["parts"]) > 1:
        lines.append(
            f"- **Across parts: {near['cross_part_pairs']:,} near-duplicate pairs** in "
            f"{near['cross_part_groups']} groups; images with a near-duplicate in another part: "
            f"{_counts_line(near['images_with_near_duplicate_in_other_part'])}; "
            f"byte-identical across parts: {_counts_line(exact['cross_part_images'])}."
        )
    lines.append(f"- Audit time: {facts['seconds']} s.")
    return lines


def _class_section(facts: dict[str, Any], plots: dict[str, str]) -> list[str]:
    classes = facts["classes"]
    parts = list(classes["by_part"])
    rows = [
        [name] + [classes["by_part"][part].get(name, 0) for part in parts] + [total]
        for name, total in classes["total"].items()
    ]
    lines = [
        "## Classes",
        "",
        _table(["class"] + parts + ["total"], rows),
        "",
        f"Imbalance (largest / smallest class): {classes['imbalance_ratio']}.",
    ]
    if classes["mapping"]:
        lines.append(f"Class mapping applied: {_counts_line(classes['mapping'])}.")
    if "balance" in plots:
        lines += ["", f"![class balance]({plots['balance']})"]
    return lines


def _image_section(facts: dict[str, Any]) -> list[str]:
    lines = [
        "## Images",
        "",
        f"- Sizes ({facts['distinct_sizes']} distinct; most common): {_counts_line(facts['sizes'])}",
        f"- Modes: {_counts_line(facts['modes'])}",
        f"- Formats: {_counts_line(facts['formats'])}; {facts['total_megabytes']} MB in all",
        "",
    ]
    if facts["unreadable"]:
        lines += [
            "### Unreadable files (excluded from splits)",
            "",
            _table(["file", "problem"], [[f"`{u['path']}`", u["error"]] for u in facts["unreadable"]]),
            "",
        ]
    if facts["non_images"]:
        lines += [
            "### Non-image files (ignored)",
            "",
            _table(["file", "reason"], [[f"`{s['path']}`", s["reason"]] for s in facts["non_images"]]),
            "",
        ]
    return lines


def _duplicate_section(facts: dict[str, Any], plots: dict[str, str]) -> list[str]:
    near = facts["near_duplicates"]
    lines = [
        "## Duplicates",
        "",
        f"Near-duplicates: {near['pairs']:,} pairs, {near['groups']:,} groups, {near['images']:,} images. "
        f"Images with a near-duplicate in their own part: "
        f"{_counts_line(near['images_with_near_duplicate_in_same_part'])}.",
        "",
    ]
    if "groups" in plots:
        lines += [f"![duplicate groups]({plots['groups']})", ""]
    rows = [
        [
            f"`{g['id']}`",
            g["size"],
            _counts_line(g["labels"]),
            _counts_line(g["parts"]),
            "<br>".join(f"`{m}`" for m in g["members"][:4]) + (" ..." if g["size"] > 4 else ""),
        ]
        for g in facts["duplicate_groups"]
    ]
    if rows:
        lines += [
            "Groups with mixed labels or spanning parts first, then the largest:",
            "",
            _table(["group", "size", "labels", "parts", "members"], rows),
            "",
        ]
    lines += [
        "A split that lets members of one group land in both training and evaluation measures memory, "
        "not generalisation: `brainedge-data split` keeps every group inside one split.",
        "",
    ]
    return lines


def render_markdown(facts: dict[str, Any], plots: dict[str, str]) -> str:
    lines = [f"# Dataset audit: `{facts['root']}`", ""] + _summary(facts) + [""]
    if facts["warnings"]:
        lines += ["## Warnings", ""] + [f"- {warning}" for warning in facts["warnings"]] + [""]
    lines += _class_section(facts, plots) + [""]
    lines += _image_section(facts)
    lines += _duplicate_section(facts, plots)
    if not plots:
        lines += ["(Plots skipped: matplotlib is not installed; `pip install matplotlib` to get them.)", ""]
    return "\n".join(lines)
