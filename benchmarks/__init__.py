"""brainedge-bench: one table for every artifact, backend, thread count and device.

Each artifact is measured in a fresh subprocess (``benchmarks.runner``) so memory figures
are clean and a crash costs one row, not the run. Results are JSON with a versioned schema
(``benchmarks.schema``, its rows typed as ``benchmarks.rows.BenchRow``), CSV and a Markdown report with
plots (``benchmarks.report``).
"""
