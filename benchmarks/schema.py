"""The benchmark result file: a versioned JSON schema and the validator every reader uses.

A result file holds one or more *runs* (one per device and invocation, each with its
``device`` record and exact command) and the *rows* they measured, one per
artifact x backend x thread count. Merged files simply hold several runs.
The schema is plain JSON Schema (draft 2020-12), so other tools can check files too;
``validate`` implements the small subset it uses, to keep the runtime dependency-free.
A row's part of it comes from its columns, ``benchmarks.rows.BenchRow``.

Fields added since version 1 are optional, so that older result files (and the Android app's)
still load and merge: a row's answer fields (``benchmarks.answers``: calibration, referral,
out-of-distribution refusal, the head's cost) and a run's ``ood_set``; within them, fields added
later still (``referral.refused``, ``test_ood.per_class``, ``ood_set.unreadable_images``) are optional too.
So are the interleaved latency's: a row's ``paired`` and ``latency_isolated_ms`` (``benchmarks.paired``),
a ratio's interval and flag (``latency_ratio_low``, ``latency_ratio_high``, ``paired_rounds``, ``drift_flagged``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from brainedge.benchmarks.rows import NUMBER, ROW_SCHEMA, TEXT
from brainedge.edge_runtime.errors import BrainEdgeError

SCHEMA_VERSION = 1

RATIO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "run",
        "artifact",
        "reference",
        "backend",
        "threads",
        "latency_p50_ratio",
        "size_ratio",
        "accuracy_delta",
    ],
    "properties": {
        "run": {"type": "string"},
        "artifact": {"type": "string"},
        "reference": {"type": "string"},
        "backend": {"type": "string"},
        "threads": {"type": ["integer", "null"]},
        "latency_p50_ratio": NUMBER,
        "latency_ratio_low": NUMBER,
        "latency_ratio_high": NUMBER,
        "paired_rounds": {"type": ["integer", "null"]},
        "drift_flagged": {"type": ["boolean", "null"]},
        "size_ratio": NUMBER,
        "accuracy_delta": NUMBER,
    },
}

RUN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "device", "command", "created"],
    "properties": {
        "id": {"type": "string"},
        "device": {"type": "object", "required": ["name", "arch", "os", "python"]},
        "command": {"type": "string"},
        "created": {"type": "string"},
        "settings": {"type": "object"},
        "test_set": {"type": ["object", "null"]},
        "ood_set": {"type": ["object", "null"]},
        "reference": TEXT,
    },
}

RESULT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "brainedge-bench result",
    "type": "object",
    "required": ["schema_version", "runs", "rows", "ratios"],
    "properties": {
        "schema_version": {"type": "integer"},
        "runs": {"type": "array", "items": RUN_SCHEMA},
        "rows": {"type": "array", "items": ROW_SCHEMA},
        "ratios": {"type": "array", "items": RATIO_SCHEMA},
    },
}

_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "number": (int, float),
    "integer": int,
    "boolean": bool,
    "null": type(None),
}


def validate(result: Any, source: str = "result") -> None:
    """Raise BrainEdgeError naming the first place where ``result`` breaks the schema."""
    _check(result, RESULT_SCHEMA, source)
    version = result["schema_version"]
    if version > SCHEMA_VERSION:
        raise BrainEdgeError(
            f"{source}: schema version {version} is newer than this brainedge-bench's "
            f"({SCHEMA_VERSION}); upgrade brainedge"
        )
    run_ids = {run["id"] for run in result["runs"]}
    for index, row in enumerate(result["rows"]):
        if row["run"] not in run_ids:
            raise BrainEdgeError(f"{source}: rows[{index}] names run {row['run']!r}, which is not in runs")


def _check(value: Any, schema: dict[str, Any], where: str) -> None:
    if "enum" in schema and value not in schema["enum"]:
        raise BrainEdgeError(f"{where}: {value!r} is not one of {schema['enum']}")
    if "type" in schema and not _has_type(value, schema["type"]):
        raise BrainEdgeError(f"{where}: expected {schema['type']}, got {type(value).__name__}")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                raise BrainEdgeError(f"{where}: missing {name!r}")
        for name, sub_schema in schema.get("properties", {}).items():
            if name in value:
                _check(value[name], sub_schema, f"{where}.{name}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            _check(item, schema["items"], f"{where}[{index}]")


def _has_type(value: Any, expected: str | list[str]) -> bool:
    names = [expected] if isinstance(expected, str) else expected
    if isinstance(value, bool):  # bool is an int in Python, never a number in JSON Schema
        return "boolean" in names
    return any(isinstance(value, _TYPES[name]) for name in names)


def read_result(path: Path) -> dict[str, Any]:
    """Load and validate a result file."""
    try:
        result = json.loads(Path(path).read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise BrainEdgeError(f"{path}: result file not found") from None
    except OSError as error:
        raise BrainEdgeError(f"{path}: cannot read the result file ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise BrainEdgeError(f"{path}: not a result file (not UTF-8 text, byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise BrainEdgeError(f"{path}: not valid JSON ({error})") from None
    except RecursionError:
        raise BrainEdgeError(f"{path}: nested too deeply to be a benchmark result") from None
    if not isinstance(result, dict) or "schema_version" not in result:
        raise BrainEdgeError(f"{path}: not a brainedge-bench result (no schema_version)")
    validate(result, str(path))
    return result


def schema_text() -> str:
    """The schema as published beside results, for tools that are not Python."""
    return json.dumps(RESULT_SCHEMA, indent=2) + "\n"
