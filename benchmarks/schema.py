"""The benchmark result file: a versioned JSON schema and the validator every reader uses.

A result file holds one or more *runs* (one per device and invocation, each with its
``device`` record and exact command) and the *rows* they measured, one per
artifact x backend x thread count. Merged files simply hold several runs.
The schema is plain JSON Schema (draft 2020-12), so other tools can check files too;
``validate`` implements the small subset it uses, to keep the runtime dependency-free.

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

from brainedge.edge_runtime.errors import BrainEdgeError

SCHEMA_VERSION = 1

_NUMBER = {"type": ["number", "null"]}
_TEXT = {"type": ["string", "null"]}

LATENCY_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["p50", "p90", "p99", "mean"],
    "properties": {name: _NUMBER for name in ("p50", "p90", "p99", "mean", "min", "max", "std")},
}

UNREADABLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["path", "error"],
    "properties": {"path": {"type": "string"}, "error": {"type": "string"}},
}
"""A test image the row's runner could not decode, and why (optional: older files and the app lack it)."""

_COUNT = {"type": "integer"}
_NUMBERS = {"type": "array", "items": {"type": "number"}}

SCORES_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["ece", "nll", "brier"],
    "properties": {name: {"type": "number"} for name in ("ece", "nll", "brier")},
}
"""Expected calibration error (15 bins), negative log-likelihood and Brier score of one set of probabilities."""

_BINS = {
    "type": "object",
    "required": ["counts", "confidence", "accuracy"],
    "properties": {"counts": {"type": "array", "items": _COUNT}, "confidence": _NUMBERS, "accuracy": _NUMBERS},
}

RELIABILITY_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["edges", "before", "after"],
    "properties": {"edges": _NUMBERS, "before": _BINS, "after": _BINS},
}

REFERRAL_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["threshold", "target_accuracy", "images", "accepted", "coverage", "accuracy"],
    "properties": {
        "threshold": {"type": "number"},
        "target_accuracy": _NUMBER,
        "images": _COUNT,
        "refused": _COUNT,
        "accepted": _COUNT,
        "coverage": {"type": "number"},
        "accuracy": _NUMBER,
    },
}

RISK_COVERAGE_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["coverage", "error"],
    "properties": {"coverage": _NUMBERS, "error": _NUMBERS},
}

SHARE_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["images", "flagged", "share"],
    "properties": {"images": _COUNT, "flagged": _COUNT, "share": _NUMBER},
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
                    "kind": _TEXT,
                    "images": _COUNT,
                    "flagged": _COUNT,
                    "share": _NUMBER,
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
        "temperature_c": _NUMBER,
        "throttled": _TEXT,
        "busy_cpu_s": _NUMBER,
        "own_cpu_s": _NUMBER,
        "wall_s": _NUMBER,
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
        "round_ms": _NUMBERS,
        "process_rounds": {"type": "array", "items": {"type": "integer"}},
        "p50_interval_ms": {"type": ["array", "null"], "items": {"type": "number"}},
        "drift": DRIFT_SCHEMA,
        "device_before": DEVICE_STATE_SCHEMA,
        "device_after": DEVICE_STATE_SCHEMA,
        "throttled": {"type": ["boolean", "null"]},
        "others_cores": _NUMBER,
        "error": _TEXT,
    },
}
"""The row's interleaved latency phase: rows of one run with the same ``phase`` were timed in one process,
round by round (``round_ms``: this artifact's median per round, aligned across them; ``process_rounds``: how
many consecutive rounds each of the fresh processes timed, absent in older files); ``error`` says why
this row has no rounds (its latency is then the isolated one)."""

ROW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "run",
        "device",
        "artifact",
        "format",
        "variant",
        "backend",
        "threads",
        "accuracy",
        "macro_f1",
        "agreement",
        "size_bytes",
        "init_ms",
        "first_ms",
        "latency_ms",
        "throughput_ips",
        "peak_rss_mb",
        "status",
        "error",
    ],
    "properties": {
        "run": {"type": "string"},
        "device": {"type": "string"},
        "artifact": {"type": "string"},
        "format": {"type": "string"},
        "variant": _TEXT,
        "backend": {"type": "string"},
        "threads": {"type": ["integer", "null"]},
        "accuracy": _NUMBER,
        "macro_f1": _NUMBER,
        "agreement": _NUMBER,
        "size_bytes": {"type": ["integer", "null"]},
        "init_ms": _NUMBER,
        "first_ms": _NUMBER,
        "latency_ms": LATENCY_SCHEMA,
        "latency_samples_ms": {"type": "array", "items": {"type": "number"}},
        # The isolated runner's latency and the interleaved phase (optional; older files and the app lack them):
        "latency_isolated_ms": LATENCY_SCHEMA,
        "paired": PAIRED_SCHEMA,
        "throughput_ips": _NUMBER,
        "peak_rss_mb": _NUMBER,
        "images": {"type": ["integer", "null"]},
        "image_errors": {"type": ["integer", "null"]},
        "unreadable_images": {"type": "array", "items": UNREADABLE_SCHEMA},
        "status": {"enum": ["ok", "failed"]},
        "error": _TEXT,
        # Whether the answers can be taken at their word (optional; null for a bundle without a head):
        "temperature": _NUMBER,
        "calibration_before": SCORES_SCHEMA,
        "calibration_after": SCORES_SCHEMA,
        "reliability": RELIABILITY_SCHEMA,
        "referral": REFERRAL_SCHEMA,
        "risk_coverage": RISK_COVERAGE_SCHEMA,
        "test_ood": TEST_OOD_SCHEMA,
        "ood_set": OOD_SET_SCHEMA,
        "head_ms": _NUMBER,
        "ood_ms": _NUMBER,
    },
}

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
        "latency_p50_ratio": _NUMBER,
        "latency_ratio_low": _NUMBER,
        "latency_ratio_high": _NUMBER,
        "paired_rounds": {"type": ["integer", "null"]},
        "drift_flagged": {"type": ["boolean", "null"]},
        "size_ratio": _NUMBER,
        "accuracy_delta": _NUMBER,
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
        "reference": _TEXT,
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
