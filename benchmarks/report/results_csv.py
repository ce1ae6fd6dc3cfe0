"""results.csv: one line per row, its nested records flattened into the columns a spreadsheet wants.

Every CSV column is drawn from one of the row's columns (``benchmarks.rows.ROW_COLUMNS``): the
column itself, or a value inside it (``CsvColumn.path``); ``NOT_IN_CSV`` names the columns too long
for a cell. tests/test_bench_parts.py checks that the two together are the schema's columns.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any, NamedTuple

from brainedge.benchmarks.answers import NEAR, OOD
from brainedge.benchmarks.rows import BenchRow


class CsvColumn(NamedTuple):
    """A CSV column: its header, the row column it comes from, and the keys (or list indices) down to its value."""

    header: str
    column: str
    path: tuple[str | int, ...] = ()

    def value(self, row: BenchRow) -> Any:
        """The value in ``row``; None where a record on the way is null or lacks the key."""
        value = getattr(row, self.column)
        for step in self.path:
            if isinstance(value, dict):
                value = value.get(step)
            elif isinstance(value, list) and isinstance(step, int):
                value = value[step] if step < len(value) else None
            else:
                return None
        return value


def _own(*names: str) -> tuple[CsvColumn, ...]:
    """Columns written as they are."""
    return tuple(CsvColumn(name, name) for name in names)


CSV_COLUMNS: tuple[CsvColumn, ...] = (
    *_own("run", "device", "artifact", "format", "variant", "backend", "threads", "status"),
    *_own("accuracy", "macro_f1", "agreement", "size_bytes", "init_ms", "first_ms"),
    *(CsvColumn(f"latency_{key}_ms", "latency_ms", (key,)) for key in ("p50", "p90", "p99", "mean")),
    CsvColumn("latency_p50_low_ms", "paired", ("p50_interval_ms", 0)),
    CsvColumn("latency_p50_high_ms", "paired", ("p50_interval_ms", 1)),
    CsvColumn("latency_isolated_p50_ms", "latency_isolated_ms", ("p50",)),
    CsvColumn("drift_change", "paired", ("drift", "change")),
    CsvColumn("drift_flagged", "paired", ("drift", "flagged")),
    CsvColumn("throttled", "paired", ("throttled",)),
    *_own("throughput_ips", "peak_rss_mb", "images", "image_errors", "error", "temperature"),
    *(
        CsvColumn(f"{score}_{when}", f"calibration_{when}", (score,))
        for score in ("ece", "nll", "brier")
        for when in ("before", "after")
    ),
    *(
        CsvColumn(f"referral_{key}", "referral", (key,))
        for key in ("threshold", "target_accuracy", "coverage", "accuracy")
    ),
    CsvColumn("test_flagged_ood", "test_ood", ("share",)),
    CsvColumn("ood_set_flagged", "ood_set", (OOD, "share")),
    CsvColumn("near_set_flagged", "ood_set", (NEAR, "share")),
    *_own("head_ms", "ood_ms"),
)

NOT_IN_CSV = ("latency_samples_ms", "unreadable_images", "reliability", "risk_coverage")
"""Row columns the CSV leaves to results.json: lists and curves, too long for a cell."""


def csv_record(row: BenchRow) -> dict[str, Any]:
    """The row as one CSV line, by header."""
    return {column.header: column.value(row) for column in CSV_COLUMNS}


def render_csv(rows: Sequence[BenchRow]) -> str:
    stream = io.StringIO(newline="")
    writer = csv.DictWriter(stream, fieldnames=[column.header for column in CSV_COLUMNS])
    writer.writeheader()
    writer.writerows(csv_record(row) for row in rows)
    return stream.getvalue()
