"""A benchmark row: one artifact x backend x thread count as ``results.json`` holds it, typed.

``BenchRow``'s fields are the one list of a row's columns: each field carries its JSON schema and
whether a result file must have it, and ``benchmarks.schema`` builds the row schema from them, so a
column is added, renamed or retyped in one place, for the harness, the merge, the schema and the report.
Rows are made by the harness (``benchmarks.harness.make_row``), read back from result files
(``BenchRow.from_json``) and written as the same JSON (``BenchRow.to_json``): a row read from a file
keeps that file's keys, in their order, including the ones this schema does not name (a LiteRT
import's ``memory_delta_mb``), and lacks the optional columns the file lacked (older files, the Android app's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

NUMBER = {"type": ["number", "null"]}
TEXT = {"type": ["string", "null"]}

LATENCY_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["p50", "p90", "p99", "mean"],
    "properties": {name: NUMBER for name in ("p50", "p90", "p99", "mean", "min", "max", "std")},
}

UNREADABLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["path", "error"],
    "properties": {"path": {"type": "string"}, "error": {"type": "string"}},
}
"""A test image the row's runner could not decode, and why (optional: older files and the app lack it)."""

_COUNT = {"type": "integer"}
NUMBERS = {"type": "array", "items": {"type": "number"}}

SCORES_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["ece", "nll", "brier"],
    "properties": {name: {"type": "number"} for name in ("ece", "nll", "brier")},
}
"""Expected calibration error (15 bins), negative log-likelihood and Brier score of one set of probabilities."""

BINS_SCHEMA = {
    "type": "object",
    "required": ["counts", "confidence", "accuracy"],
    "properties": {"counts": {"type": "array", "items": _COUNT}, "confidence": NUMBERS, "accuracy": NUMBERS},
}

RELIABILITY_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["edges", "before", "after"],
    "properties": {"edges": NUMBERS, "before": BINS_SCHEMA, "after": BINS_SCHEMA},
}

REFERRAL_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["threshold", "target_accuracy", "images", "accepted", "coverage", "accuracy"],
    "properties": {
        "threshold": {"type": "number"},
        "target_accuracy": NUMBER,
        "images": _COUNT,
        "refused": _COUNT,
        "accepted": _COUNT,
        "coverage": {"type": "number"},
        "accuracy": NUMBER,
    },
}

RISK_COVERAGE_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["coverage", "error"],
    "properties": {"coverage": NUMBERS, "error": NUMBERS},
}

SHARE_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["images", "flagged", "share"],
    "properties": {"images": _COUNT, "flagged": _COUNT, "share": NUMBER},
}
"""How many images were refused as out-of-distribution, of how many."""

TEST_OOD_SCHEMA: dict[str, Any] = {
    **SHARE_SCHEMA,
    "properties": {
        **SHARE_SCHEMA["properties"],
        "per_class": {
            "type": "array",
            "items": {
                **SHARE_SCHEMA,
                "type": "object",
                "required": ["name", *SHARE_SCHEMA["required"]],
                "properties": {"name": {"type": "string"}, **SHARE_SCHEMA["properties"]},
            },
        },
    },
}
"""The test images refused as out-of-distribution, and (optional: older files lack it) per true class."""

OOD_SET_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["source", "groups", "ood", "near"],
    "properties": {
        "source": {"type": "string"},
        "groups": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "kind", "images", "flagged", "share", "unreadable"],
                "properties": {
                    "name": {"type": "string"},
                    "kind": TEXT,
                    "images": _COUNT,
                    "flagged": _COUNT,
                    "share": NUMBER,
                    "unreadable": _COUNT,
                },
            },
        },
        "ood": SHARE_SCHEMA,
        "near": SHARE_SCHEMA,
        "unreadable_images": {"type": "array", "items": UNREADABLE_SCHEMA},
    },
}

DEVICE_STATE_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "properties": {
        "temperature_c": NUMBER,
        "throttled": TEXT,
        "busy_cpu_s": NUMBER,
        "own_cpu_s": NUMBER,
        "wall_s": NUMBER,
    },
}
"""SoC temperature, ``vcgencmd get_throttled`` (a Raspberry Pi's), CPU seconds used by all processes and by the
measuring one, and a monotonic clock; each null where the device cannot say."""

DRIFT_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["first_ms", "last_ms", "change", "threshold", "flagged"],
    "properties": {
        "first_ms": {"type": "number"},
        "last_ms": {"type": "number"},
        "change": {"type": "number"},
        "threshold": {"type": "number"},
        "flagged": {"type": "boolean"},
    },
}
"""The median of the first fifth of the rounds, of the last fifth, the relative change and whether it exceeds
the threshold."""

PAIRED_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["phase", "round_ms", "error"],
    "properties": {
        "phase": {"type": "string"},
        "artifacts": _COUNT,
        "round_ms": NUMBERS,
        "process_rounds": {"type": "array", "items": {"type": "integer"}},
        "p50_interval_ms": {"type": ["array", "null"], "items": {"type": "number"}},
        "drift": DRIFT_SCHEMA,
        "device_before": DEVICE_STATE_SCHEMA,
        "device_after": DEVICE_STATE_SCHEMA,
        "throttled": {"type": ["boolean", "null"]},
        "others_cores": NUMBER,
        "error": TEXT,
    },
}
"""The row's interleaved latency phase: rows of one run with the same ``phase`` were timed in one process,
round by round (``round_ms``: this artifact's median per round, aligned across them; ``process_rounds``: how
many consecutive rounds each of the fresh processes timed, absent in older files); ``error`` says why
this row has no rounds (its latency is then the isolated one)."""


class _Required:
    """The default of a required column, so that a row made without it is refused (the package supports
    Python 3.9, which has no ``dataclass(kw_only=True)`` to put required fields after optional ones)."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


def _column(schema: dict[str, Any], *, required: bool = False, answer: bool = False, empty: bool = False) -> Any:
    """A field of BenchRow: its JSON schema, whether a result file must have it, whether it is one of the
    answer columns (``benchmarks.answers``); optional ones default to null, or to an empty list (``empty``)."""
    metadata = {"schema": schema, "required": required, "answer": answer}
    if empty:
        return field(default_factory=list, metadata=metadata)
    return field(default=REQUIRED if required else None, metadata=metadata)


@dataclass
class BenchRow:
    """One row of a result: identity, the runner's figures, the interleaved latency, accuracy and the answers' worth.

    Nested records (latency, paired, calibration, ...) stay the JSON objects their schemas describe.
    """

    run: str = _column({"type": "string"}, required=True)
    device: str = _column({"type": "string"}, required=True)
    artifact: str = _column({"type": "string"}, required=True)
    format: str = _column({"type": "string"}, required=True)
    variant: str | None = _column(TEXT, required=True)
    backend: str = _column({"type": "string"}, required=True)
    threads: int | None = _column({"type": ["integer", "null"]}, required=True)
    accuracy: float | None = _column(NUMBER, required=True)
    macro_f1: float | None = _column(NUMBER, required=True)
    agreement: float | None = _column(NUMBER, required=True)
    size_bytes: int | None = _column({"type": ["integer", "null"]}, required=True)
    init_ms: float | None = _column(NUMBER, required=True)
    first_ms: float | None = _column(NUMBER, required=True)
    latency_ms: dict[str, Any] | None = _column(LATENCY_SCHEMA, required=True)
    latency_samples_ms: list[float] = _column({"type": "array", "items": {"type": "number"}}, empty=True)
    # The isolated runner's latency and the interleaved phase (optional; older files and the app lack them):
    latency_isolated_ms: dict[str, Any] | None = _column(LATENCY_SCHEMA)
    paired: dict[str, Any] | None = _column(PAIRED_SCHEMA)
    throughput_ips: float | None = _column(NUMBER, required=True)
    peak_rss_mb: float | None = _column(NUMBER, required=True)
    images: int | None = _column({"type": ["integer", "null"]})
    image_errors: int | None = _column({"type": ["integer", "null"]})
    unreadable_images: list[dict[str, str]] = _column({"type": "array", "items": UNREADABLE_SCHEMA}, empty=True)
    status: str = _column({"enum": ["ok", "failed"]}, required=True)
    error: str | None = _column(TEXT, required=True)
    # Whether the answers can be taken at their word (optional; null for a bundle without a head):
    temperature: float | None = _column(NUMBER, answer=True)
    calibration_before: dict[str, Any] | None = _column(SCORES_SCHEMA, answer=True)
    calibration_after: dict[str, Any] | None = _column(SCORES_SCHEMA, answer=True)
    reliability: dict[str, Any] | None = _column(RELIABILITY_SCHEMA, answer=True)
    referral: dict[str, Any] | None = _column(REFERRAL_SCHEMA, answer=True)
    risk_coverage: dict[str, Any] | None = _column(RISK_COVERAGE_SCHEMA, answer=True)
    test_ood: dict[str, Any] | None = _column(TEST_OOD_SCHEMA, answer=True)
    ood_set: dict[str, Any] | None = _column(OOD_SET_SCHEMA, answer=True)
    head_ms: float | None = _column(NUMBER, answer=True)
    ood_ms: float | None = _column(NUMBER, answer=True)

    extra: dict[str, Any] = field(default_factory=dict)
    """Keys of a file's row that are no column of this schema, kept so that a merge loses nothing."""
    keys: tuple[str, ...] | None = field(default=None, compare=False, repr=False)
    """The row's JSON keys in the order written: a file's own for a row read back, None (every column) for a new one."""

    def __post_init__(self) -> None:
        missing = [column.name for column in COLUMNS if getattr(self, column.name) is REQUIRED]
        if missing:
            raise TypeError(f"a benchmark row needs {', '.join(missing)}")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BenchRow:
        """A row of a result file (one ``benchmarks.schema.validate`` accepted), its keys and their order kept."""
        columns = set(ROW_COLUMNS)
        return cls(
            **{key: value for key, value in data.items() if key in columns},
            extra={key: value for key, value in data.items() if key not in columns},
            keys=tuple(data),
        )

    def to_json(self) -> dict[str, Any]:
        """The row as results.json holds it: the keys it was read with, or every column of a new row in order
        (and its ``extra`` keys after them)."""
        values = {**{name: getattr(self, name) for name in ROW_COLUMNS}, **self.extra}
        return {key: values[key] for key in self.keys or values}


COLUMNS = tuple(column for column in fields(BenchRow) if "schema" in column.metadata)
ROW_COLUMNS = tuple(column.name for column in COLUMNS)
"""A row's columns in the order results.json writes them: the schema's and the report's one list."""
ANSWER_FIELDS = tuple(column.name for column in COLUMNS if column.metadata["answer"])
"""The columns ``benchmarks.answers`` fills; all null for a bundle without a head, a failed row, or an older file."""

ROW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [column.name for column in COLUMNS if column.metadata["required"]],
    "properties": {column.name: column.metadata["schema"] for column in COLUMNS},
}


def rows_of(result: Mapping[str, Any]) -> list[BenchRow]:
    """The rows of a result (as results.json holds it), typed."""
    return [BenchRow.from_json(row) for row in result["rows"]]
