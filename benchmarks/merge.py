"""Merge result files from several devices (a desktop, a Pi, the Android app) into one comparison."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from brainedge.benchmarks.harness import assemble
from brainedge.benchmarks.rows import BenchRow
from brainedge.benchmarks.schema import read_result
from brainedge.edge_runtime.errors import BrainEdgeError


def merge_results(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """All runs and rows in one result; clashing run ids get a suffix, ratios are recomputed per run.

    Each row is written back as its file had it (its keys, their order, those this schema does not name), but
    for the run's new id.
    """
    runs: list[dict[str, Any]] = []
    rows: list[BenchRow] = []
    taken: set[str] = set()
    for index, result in enumerate(results):
        renamed = {}
        for run in result["runs"]:
            new_id = run["id"] if run["id"] not in taken else f"{run['id']}-{index}"
            while new_id in taken:
                new_id += "'"
            taken.add(new_id)
            renamed[run["id"]] = new_id
            runs.append({**run, "id": new_id})
        rows += [replace(BenchRow.from_json(row), run=renamed[row["run"]]) for row in result["rows"]]
    return assemble(runs, rows)


def merge_files(paths: Sequence[Path]) -> dict[str, Any]:
    if len(paths) < 2:
        raise BrainEdgeError("--merge needs at least two result files")
    return merge_results([read_result(path) for path in paths])
