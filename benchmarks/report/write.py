"""Write a result as JSON, CSV and a Markdown report with its PNG plots beside it.

Every file is written in full to a hidden temporary name in the output folder before any is renamed
into place, so a full disk, a kill or Ctrl-C leaves each previous file intact, never half-written.
results.json is renamed last: when it is new, every file beside it is too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from brainedge.benchmarks.report.markdown import render_markdown
from brainedge.benchmarks.report.outputs import (
    OUTPUT_FILES,
    PLOTS,
    REPORT_MD,
    RESULT_CSV,
    RESULT_JSON,
    SCHEMA_JSON,
)
from brainedge.benchmarks.report.plots import render_plots
from brainedge.benchmarks.report.results_csv import render_csv
from brainedge.benchmarks.rows import rows_of
from brainedge.benchmarks.schema import schema_text
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import write_atomically


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
    rows = rows_of(result)
    plots = render_plots(rows)
    files = {
        **plots,
        RESULT_CSV: render_csv(rows).encode("utf-8"),
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
    for name in PLOTS:
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
    for name in OUTPUT_FILES:
        # .NAME-staged.tmp, and ..NAME-staged.tmp-XXXX.tmp from write_atomically while staging it
        for leftover in [*out_dir.glob(f".{name}-*.tmp"), *out_dir.glob(f"..{name}-*.tmp")]:
            try:
                leftover.unlink()
            except OSError:
                pass  # hidden and harmless; not worth failing a finished benchmark over
