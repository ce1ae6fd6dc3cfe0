"""report.md: the devices and commands, one table for every row, the ratios, the interleaved phases,
the answers' section, failures, unreadable images, the plots and the method (``method.md``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from brainedge.benchmarks.paired import BUSY_THRESHOLD, DRIFT_SHARE, DRIFT_THRESHOLD, busy
from brainedge.benchmarks.report.answers_section import answers_section
from brainedge.benchmarks.report.formatting import DRIFT_FLAG, fmt, table, text
from brainedge.benchmarks.report.labels import (
    answer_rows,
    row_label,
    threads_label,
    unreadable_images,
    unreadable_ood_images,
    where,
)
from brainedge.benchmarks.report.outputs import DISTRIBUTION_PNG, SCATTER_PNG
from brainedge.benchmarks.rows import BenchRow, rows_of

METHOD = (
    (Path(__file__).with_name("method.md"))
    .read_text(encoding="utf-8")
    .format(
        DRIFT_FLAG=DRIFT_FLAG, DRIFT_SHARE=DRIFT_SHARE, DRIFT_THRESHOLD=DRIFT_THRESHOLD, BUSY_THRESHOLD=BUSY_THRESHOLD
    )
)
"""How each figure is measured, the report's last section: ``method.md`` with the thresholds filled in."""


def render_markdown(result: dict[str, Any], plots: Sequence[str]) -> str:
    """The human report of a result (as results.json holds it): devices, one table for every row, ratios,
    failures, plots, method."""
    rows = rows_of(result)
    parts = [
        "# BrainEdge benchmark\n",
        f"Schema version {result['schema_version']}; {len(rows)} row(s) from {len(result['runs'])} run(s).\n",
        "## Devices and commands\n",
        _runs_table(result["runs"]),
    ]
    for run in result["runs"]:
        parts.append(f"Run `{run['id']}` ({run['created']}):\n\n```\n{run['command']}\n```\n")
        if run.get("test_set"):
            parts.append(f"Test set: {_test_set(run['test_set'])}\n")
        if run.get("ood_set"):
            parts.append(f"OOD set (never in accuracy): {_ood_set(run['ood_set'])}\n")
    parts += ["## Results\n", _rows_table(rows)]
    if result["ratios"]:
        parts += ["## Quantized vs float32 (same run, same thread count)\n", _ratios_table(result["ratios"])]
    parts += interleaved_section(rows, result["runs"])
    answered = answer_rows(rows)
    if answered:
        parts += answers_section(answered, plots)
    failed = [r for r in rows if r.status == "failed"]
    if failed:
        parts.append("## Failures\n")
        parts.append("".join(f"- {row_label(r, True, rows)}: {r.error}\n" for r in failed))
    unreadable = unreadable_images(rows)
    if unreadable:
        parts.append("## Unreadable test images (counted as wrong)\n")
        parts.append("".join(f"- `{path}`: {error}\n" for path, error in unreadable.items()))
    unreadable_ood = unreadable_ood_images(rows)
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


def _runs_table(runs: Sequence[dict[str, Any]]) -> str:
    lines = []
    for run in runs:
        device = run["device"]
        packages = device.get("packages") or {}
        temperature = device.get("temperature_c")
        lines.append(
            [
                run["id"],
                text(device.get("name")),
                text(device.get("cpu")),
                text(device.get("cores")),
                text(device.get("arch")),
                text(device.get("os")),
                text(device.get("python")),
                _litert(packages),
                text(packages.get("onnxruntime")),
                str(device.get("cpu_governor") or "–"),
                "–" if temperature is None else f"{temperature:.1f} °C",
                fmt(device.get("load_average_1m")),
            ]
        )
    return table(
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
    described = f"`{test_set.get('source')}`, {test_set.get('images')} images" + (f" ({classes})" if classes else "")
    if test_set.get("limit") is not None:
        described += (
            f"; --limit {test_set['limit']}: {test_set.get('images')} of the {test_set.get('available')} available,"
            " spread evenly over them in order"
        )
    if test_set.get("leaked_left_out"):
        described += (
            f"; {test_set['leaked_left_out']} test image(s) with a near-duplicate in train/val were left out"
            " of the available ones (--include-leaked keeps them)"
        )
    return described


def _ood_set(ood_set: dict[str, Any]) -> str:
    """`source`, N images (group: n kind, ...) from a run's ood_set record."""
    groups = ", ".join(f"{g['name']}: {g['images']} {g['kind'] or 'unlisted'}" for g in ood_set.get("groups") or [])
    return f"`{ood_set.get('source')}`, {ood_set.get('images')} images" + (f" ({groups})" if groups else "")


def _rows_table(rows: Sequence[BenchRow]) -> str:
    lines = []
    for r in rows:
        latency = r.latency_ms or {}
        lines.append(
            [
                where(r, rows),
                r.artifact,
                r.format,
                r.backend,
                str(r.threads or "default"),
                fmt(r.accuracy, 100, 1),
                fmt(r.macro_f1, 100, 1),
                fmt(r.agreement, 100, 1),
                fmt(r.size_bytes, 1e-6, 2),
                fmt(r.init_ms, 1, 1),
                fmt(r.first_ms),
                _with_interval(latency.get("p50"), (r.paired or {}).get("p50_interval_ms")),
                *(fmt(latency.get(key)) for key in ("p90", "p99", "mean")),
                _drift(r.paired),
                fmt(r.throughput_ips, 1, 1),
                fmt(r.peak_rss_mb, 1, 1),
                r.status,
            ]
        )
    return table(
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
            where(r, ratios),
            r["artifact"],
            r["reference"],
            r["backend"],
            str(r["threads"] or "default"),
            _with_interval(r["latency_p50_ratio"], _ratio_interval(r), 3)
            + (f" {DRIFT_FLAG}" if r.get("drift_flagged") else ""),
            fmt(r["size_ratio"], 1, 3),
            fmt(r["accuracy_delta"], 100, 2),
        ]
        for r in ratios
    ]
    return table(
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
    shown = fmt(value, 1, digits)
    return shown if value is None or not interval else f"{shown} ({interval[0]:.{digits}f}–{interval[1]:.{digits}f})"


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


def interleaved_section(rows: Sequence[BenchRow], runs: Sequence[dict[str, Any]]) -> list[str]:
    """Per run and phase: how it was timed, the device's temperature and throttling around it, the rows flagged
    for drift, and the rows it could not time; nothing for a result without interleaved rows."""
    phases: dict[tuple[str, str], list[BenchRow]] = {}
    for row in rows:
        if row.paired:
            phases.setdefault((row.run, row.paired["phase"]), []).append(row)
    if not phases:
        return []
    settings = {run["id"]: run.get("settings") or {} for run in runs}
    lines = []
    for (run, phase), members in phases.items():
        lines.append(f"- Run `{run}`, `{phase}`: {_phase_summary(members, settings[run])}\n")
        lines += [f"  - {line}\n" for line in _phase_findings(members)]
    return ["## Interleaved latency\n", "".join(lines)]


def _phase_summary(rows: Sequence[BenchRow], settings: dict[str, Any]) -> str:
    first = rows[0].paired or {}
    rounds = max(len((r.paired or {})["round_ms"]) for r in rows)
    summary = f"{len(rows)} artifact(s), {rounds} rounds"
    if settings.get("block") is not None:
        summary += f" of {settings['block']} timed invokes each"
        summary += f" after {settings['settle']} untimed ones" if settings.get("settle") else ""
        summary += f", in a random order per round (seed {settings.get('seed')})"
    before, after = first.get("device_before") or {}, first.get("device_after") or {}
    if before.get("temperature_c") is not None and after.get("temperature_c") is not None:
        summary += f"; SoC {before['temperature_c']:.1f} → {after['temperature_c']:.1f} °C"
    if before.get("throttled") is not None or after.get("throttled") is not None:
        summary += f"; `vcgencmd get_throttled` {before.get('throttled') or '–'} → {after.get('throttled') or '–'}"
    if first.get("others_cores") is not None:
        summary += f"; other processes used {first['others_cores']:.2f} cores on average"
    return summary + "."


def _phase_findings(rows: Sequence[BenchRow]) -> list[str]:
    """One line per row flagged for drift or throttling, or timed in its own process only, and one if others were
    busy; "no drift" if none of these."""
    findings = []
    first = rows[0].paired or {}
    if busy(first):
        findings.append(
            f"{DRIFT_FLAG} other processes used {first['others_cores']:.2f} cores on average during the "
            f"phase (more than {BUSY_THRESHOLD}): they contend for the caches and memory too, which slows some models "
            "more than others, so even paired ratios shift"
        )
    for row in rows:
        paired, label = row.paired or {}, f"{row.artifact} [{row.backend}, {threads_label(row)}]"
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
