"""The files ``write_all`` puts in ``--out``: what marks a folder as an earlier benchmark's."""

from __future__ import annotations

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


def is_result_text(start: bytes) -> bool:
    """Whether a file's first bytes are a results.json of write_all's (what marks a benchmark's folder)."""
    return start.lstrip().startswith(b"{") and b'"schema_version"' in start and b'"runs"' in start
