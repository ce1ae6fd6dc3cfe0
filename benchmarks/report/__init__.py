"""The report of a result: results.json, results.csv, report.md and its plots (``write_all``).

By what each draws: ``results_csv`` (the CSV's columns), ``markdown`` (report.md's tables and sections,
its method from ``method.md``), ``answers`` (the section on whether the answers can be taken at their
word, its column notes from ``answer_columns.md``), one module per plot (``scatter``, ``distribution``,
``reliability``, ``risk_coverage``; ``plots`` renders them), the scatter's label placement in
``placement``; ``labels`` names rows, ``formatting`` writes figures and tables.
"""

from __future__ import annotations

from brainedge.benchmarks.report.labels import unreadable_images, unreadable_ood_images
from brainedge.benchmarks.report.markdown import render_markdown
from brainedge.benchmarks.report.outputs import (
    DISTRIBUTION_PNG,
    OUTPUT_FILES,
    RELIABILITY_PNG,
    REPORT_MD,
    RESULT_CSV,
    RESULT_JSON,
    RISK_COVERAGE_PNG,
    SCATTER_PNG,
    SCHEMA_JSON,
    is_result_text,
)
from brainedge.benchmarks.report.write import write_all

__all__ = [
    "DISTRIBUTION_PNG",
    "OUTPUT_FILES",
    "RELIABILITY_PNG",
    "REPORT_MD",
    "RESULT_CSV",
    "RESULT_JSON",
    "RISK_COVERAGE_PNG",
    "SCATTER_PNG",
    "SCHEMA_JSON",
    "is_result_text",
    "render_markdown",
    "unreadable_images",
    "unreadable_ood_images",
    "write_all",
]
