"""The studies that read an export: the export record over runs (export_report) and the answers
report (answers_report), which must agree with ``brainedge.export.evaluate``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from quiet_python import run_python

from brainedge.benchmarks.studies import export_report
from brainedge.benchmarks.studies.ood_set import write_ood_set
from brainedge.edge_runtime.metrics import wilson_interval, with_interval


def test_the_export_record_gives_intervals_flips_and_the_spread_over_runs(tmp_path: Path) -> None:
    from brainedge.export.verify import verification

    labels = np.array([0, 0, 0, 0, 1, 1])
    float_model = np.eye(2)[[0, 0, 0, 0, 1, 0]]
    reports = []
    for run, int8 in enumerate(([1, 1, 1, 0, 1, 1], [0, 0, 0, 0, 1, 1])):
        rows = []
        for name, answers in (("tflite_float32", float_model), ("tflite_int8_ptq", np.eye(2)[int8])):
            check = verification(answers, {"float": float_model}, "float", labels, "test", 0.97)
            rows.append({"variant": name, "size_bytes": 10, "model_bytes": 8, "passed": True, **check})
        reports.append(tmp_path / f"run{run}.json")
        reports[-1].write_text(json.dumps(rows))
    out = tmp_path / "record"
    assert export_report.main([*map(str, reports), "--command", "pytest", "--out", str(out)]) == 0
    text = out.with_suffix(".md").read_text()
    assert f"| {with_interval(0.5, wilson_interval(3, 6))} | -33.33 | 3 / 1, p = 0.625 |" in text
    assert "-33.33 points (3 right→wrong, 1 wrong→right, McNemar p = 0.625)" in text
    seeds = json.loads(out.with_suffix(".json").read_text())["seeds"]
    assert seeds["runs"] == 2 and seeds["variants"]["tflite_int8_ptq"]["accuracy"]["mean"] == pytest.approx(0.75)
    assert seeds["variants"]["tflite_int8_ptq"]["points_vs_float"]["max"] == pytest.approx(100 / 6)
    assert "## Spread over 2 runs" in text

    older = json.loads(reports[0].read_text())
    for row in older:  # a report from before intervals and flips: Wilson from its count, no flips to show
        del row["accuracy_interval"], row["float_flips"]
    reports[0].write_text(json.dumps(older))
    assert export_report.main([str(reports[0]), "--command", "pytest", "--out", str(out)]) == 0
    assert f"| {with_interval(0.5, wilson_interval(3, 6))} | -33.33 | — |" in out.with_suffix(".md").read_text()


@pytest.mark.slow
@pytest.mark.tensorflow
def test_answers_report_agrees_with_export_evaluate(
    run_dir: Path, exported: tuple[Path, subprocess.CompletedProcess], tmp_path: Path
) -> None:
    """The issue-17 study and export.evaluate compute test calibration along separate paths: same numbers."""
    out, _ = exported
    ood = tmp_path / "ood"
    write_ood_set(ood, shared=None, size=64, per_kind=1)
    config = json.loads((run_dir / "config.json").read_text())
    evaluated = run_python(
        "-m", "brainedge.export.evaluate", str(run_dir), str(out), "--out", str(tmp_path / "test.json")
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    done = run_python(
        "-m", "brainedge.benchmarks.studies.answers_report", str(out), "--manifest", config["manifest"],
        "--ood-set", str(ood), "--command", "pytest", "--out", str(tmp_path / "answers"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((tmp_path / "answers.json").read_text())
    evaluation = {row["variant"]: row for row in json.loads((tmp_path / "test.json").read_text())}
    images = sum(1 for path in ood.rglob("*.png"))
    for row in record["bundles"]:
        assert row["after"]["ece"] == pytest.approx(evaluation[row["bundle"]]["calibration"]["after"]["ece"], abs=1e-9)
        assert row["test_flagged"] == pytest.approx(evaluation[row["bundle"]]["ood_flagged"])
        assert sum(group["images"] for group in row["ood_groups"].values()) == images
    assert {check["target"].split(":")[0] for check in record["acceptance"]} == {
        "tflite_float32", "tflite_int8_ptq", "tflite_int8_qat"
    }  # fmt: skip
    assert "## Acceptance (issue 17)" in (tmp_path / "answers.md").read_text()
