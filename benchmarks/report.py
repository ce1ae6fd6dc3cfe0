"""Write a result as JSON, CSV and a Markdown report with its PNG plots beside it.

Every file is written in full to a hidden temporary name in the output folder before any is renamed
into place, so a full disk, a kill or Ctrl-C leaves each previous file intact, never half-written.
results.json is renamed last: when it is new, every file beside it is too.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

from brainedge.benchmarks.schema import schema_text
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import write_atomically

RESULT_JSON = "results.json"
RESULT_CSV = "results.csv"
REPORT_MD = "report.md"
SCHEMA_JSON = "results.schema.json"
SCATTER_PNG = "accuracy_vs_latency.png"
DISTRIBUTION_PNG = "latency_distribution.png"

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
    "throughput_ips",
    "peak_rss_mb",
    "images",
    "image_errors",
    "error",
)


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
    for name in (SCATTER_PNG, DISTRIBUTION_PNG):
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
    for name in (RESULT_JSON, RESULT_CSV, SCHEMA_JSON, REPORT_MD, SCATTER_PNG, DISTRIBUTION_PNG):
        # .NAME-staged.tmp, and ..NAME-staged.tmp-XXXX.tmp from write_atomically while staging it
        for leftover in [*out_dir.glob(f".{name}-*.tmp"), *out_dir.glob(f"..{name}-*.tmp")]:
            try:
                leftover.unlink()
            except OSError:
                pass  # hidden and harmless; not worth failing a finished benchmark over


def csv_record(row: dict[str, Any]) -> dict[str, Any]:
    latency = row.get("latency_ms") or {}
    flat = {**row, **{f"latency_{key}_ms": latency.get(key) for key in ("p50", "p90", "p99", "mean")}}
    return {column: flat.get(column) for column in CSV_COLUMNS}


def render_csv(rows: Sequence[dict[str, Any]]) -> str:
    stream = io.StringIO(newline="")
    writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(csv_record(row) for row in rows)
    return stream.getvalue()


def row_label(row: dict[str, Any], with_device: bool) -> str:
    label = f"{row['artifact']} [{row['backend']}, {row['threads'] or 'default'}t]"
    return f"{label} @{row['device']}" if with_device else label


def _several_devices(rows: Sequence[dict[str, Any]]) -> bool:
    return len({row["device"] for row in rows}) > 1


def render_plots(rows: Sequence[dict[str, Any]]) -> dict[str, bytes]:
    """The accuracy-vs-latency scatter and the latency box plots as PNG bytes; none without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    rendered = {SCATTER_PNG: _scatter(plt, rows), DISTRIBUTION_PNG: _distribution(plt, rows)}
    return {name: png for name, png in rendered.items() if png is not None}


def _scatter(plt: Any, rows: Sequence[dict[str, Any]]) -> bytes | None:
    points = [
        r
        for r in rows
        if r["status"] == "ok" and r.get("accuracy") is not None and (r.get("latency_ms") or {}).get("p50") is not None
    ]
    if not points:
        return None
    with_device = _several_devices(points)
    figure, axes = plt.subplots(figsize=(8, 5.5))
    for device in sorted({r["device"] for r in points}):
        mine = [r for r in points if r["device"] == device]
        axes.scatter([r["latency_ms"]["p50"] for r in mine], [100 * r["accuracy"] for r in mine], label=device, s=36)
        for r in mine:
            axes.annotate(
                row_label(r, with_device=False),
                (r["latency_ms"]["p50"], 100 * r["accuracy"]),
                fontsize=7,
                xytext=(4, 3),
                textcoords="offset points",
            )
    axes.set_xlabel("p50 invoke latency (ms)")
    axes.set_ylabel("test accuracy (%)")
    axes.set_title("Accuracy vs latency (up and left is better)")
    axes.grid(alpha=0.3)
    if with_device:
        axes.legend(title="device", fontsize=8)
    figure.tight_layout()
    return _png(plt, figure)


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
    axes.set_yticks(range(1, len(measured) + 1), [row_label(r, with_device) for r in measured], fontsize=7)
    axes.invert_yaxis()
    axes.set_xlabel("invoke latency per run (ms)")
    axes.set_title("Steady-state latency distribution")
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
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
    parts += ["## Results\n", _rows_table(result["rows"])]
    if result["ratios"]:
        parts += ["## Quantized vs float32 (same run, same thread count)\n", _ratios_table(result["ratios"])]
    failed = [r for r in result["rows"] if r["status"] == "failed"]
    if failed:
        parts.append("## Failures\n")
        parts.append("".join(f"- {row_label(r, True)}: {r['error']}\n" for r in failed))
    unreadable = unreadable_images(result["rows"])
    if unreadable:
        parts.append("## Unreadable test images (counted as wrong)\n")
        parts.append("".join(f"- `{path}`: {error}\n" for path, error in unreadable.items()))
    if plots:
        parts.append("## Plots\n")
        titles = {SCATTER_PNG: "Accuracy vs p50 latency", DISTRIBUTION_PNG: "Latency distribution per artifact"}
        parts += [f"![{titles[name]}]({name})\n" for name in plots]
    else:
        parts.append("_No plots: nothing to plot, or matplotlib is not installed (`pip install matplotlib`)._\n")
    parts += ["## Method\n", METHOD]
    return "\n".join(parts)


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
    """`source`, N images (class: n, ...) from a desktop's or the phone's test_set record."""
    per_class = test_set.get("per_class") or {}
    classes = ", ".join(f"{name}: {count}" for name, count in per_class.items())
    return f"`{test_set.get('source')}`, {test_set.get('images')} images" + (f" ({classes})" if classes else "")


def _rows_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = []
    for r in rows:
        latency = r.get("latency_ms") or {}
        lines.append(
            [
                r["device"],
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
                *(_fmt(latency.get(key)) for key in ("p50", "p90", "p99", "mean")),
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
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "mean ms",
            "img/s e2e",
            "peak RSS MB",
            "status",
        ),
        lines,
    )


def _ratios_table(ratios: Sequence[dict[str, Any]]) -> str:
    lines = [
        [
            r.get("device", r["run"]),
            r["artifact"],
            r["reference"],
            r["backend"],
            str(r["threads"] or "default"),
            _fmt(r["latency_p50_ratio"], 1, 3),
            _fmt(r["size_ratio"], 1, 3),
            _fmt(r["accuracy_delta"], 100, 2),
        ]
        for r in ratios
    ]
    return _table(
        ("device", "artifact", "vs float32", "backend", "threads", "p50 latency ×", "size ×", "accuracy Δ (points)"),
        lines,
    )


METHOD = """\
- **init**: constructing the `edge_runtime.Classifier` (read and hash-check the bundle, load the
  interpreter, allocate tensors). **first**: the first invoke after that.
- **p50/p90/p99/mean**: invoke-only latency (set input, invoke, read output) on one fixed preprocessed
  image, after the warm-up runs, over the timed runs listed in each run's settings.
- **img/s e2e**: end-to-end throughput over the labelled test set (decode, preprocess, invoke, rank),
  one image at a time. **accuracy**, **macro-F1**: on that set; an unreadable image counts as wrong.
- **agreement**: share of test images whose top-1 equals the float32 reference artifact's top-1.
- **peak RSS**: peak resident memory of the fresh subprocess that measured the row (Python, numpy,
  Pillow, the interpreter and the model together): `VmHWM` on Linux (`ru_maxrss` there would include
  the parent's memory, which Linux carries across fork and exec), `ru_maxrss` elsewhere.
- Rows imported from LiteRT `benchmark_model` logs report its *Init*, *First inference*, average and
  (newer versions) median; it gives no p90/p99 and no accuracy.
"""
