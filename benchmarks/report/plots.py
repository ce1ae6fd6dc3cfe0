"""The report's PNG plots, each drawn by its own module; none without matplotlib."""

from __future__ import annotations

from collections.abc import Sequence

from brainedge.benchmarks.report.distribution import distribution_png
from brainedge.benchmarks.report.labels import answer_rows
from brainedge.benchmarks.report.outputs import DISTRIBUTION_PNG, RELIABILITY_PNG, RISK_COVERAGE_PNG, SCATTER_PNG
from brainedge.benchmarks.report.reliability import reliability_png
from brainedge.benchmarks.report.risk_coverage import risk_coverage_png
from brainedge.benchmarks.report.scatter import scatter_png
from brainedge.benchmarks.rows import BenchRow


def render_plots(rows: Sequence[BenchRow]) -> dict[str, bytes]:
    """The accuracy-vs-latency scatter, the latency box plots, and the reliability and risk-coverage plots of the
    rows that report on their answers, as PNG bytes by file name; a plot with nothing to draw is left out."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    answered = answer_rows(rows)
    rendered = {
        SCATTER_PNG: scatter_png(plt, rows),
        DISTRIBUTION_PNG: distribution_png(plt, rows),
        RELIABILITY_PNG: reliability_png(plt, answered),
        RISK_COVERAGE_PNG: risk_coverage_png(plt, answered),
    }
    return {name: png for name, png in rendered.items() if png is not None}
