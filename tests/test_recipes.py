"""The recipe study's stages stop cleanly: a kill or Ctrl-C of `recipes run` reaches the whole stage,
even a trainer that inherited an ignored SIGINT (nohup, a background job), and leaves no orphan."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

STAGE = """
import sys
from brainedge.benchmarks.studies.recipes import step, stop_on_sigterm
stop_on_sigterm()
try:
    step("training", ["bash", "-c", "trap '' INT; echo $$ > {pid}; sleep 60"], open({log!r}, "w"))
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


def test_sigterm_stops_the_whole_stage_even_when_it_ignores_sigint(tmp_path: Path) -> None:
    pid_file = tmp_path / "stage.pid"
    script = STAGE.format(pid=pid_file, log=str(tmp_path / "stage.log"))
    runner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline, "the stage did not start"
        time.sleep(0.1)
    stage = int(pid_file.read_text())
    runner.send_signal(signal.SIGTERM)
    out, _ = runner.communicate(timeout=30)
    assert out.strip() == "interrupted"
    time.sleep(0.2)
    try:
        os.kill(stage, 0)
    except ProcessLookupError:
        return
    os.kill(stage, signal.SIGKILL)
    raise AssertionError("the stage outlived `recipes run`")


def test_the_brain_box_is_the_largest_bright_region_and_its_magnification() -> None:
    from brainedge.benchmarks.studies.brain_extent import brain_box, magnification

    rows, columns = np.mgrid[:100, :100]
    gray = np.where((rows - 50) ** 2 + (columns - 40) ** 2 <= 30**2, 200, 0).astype(np.uint8)
    gray[2:8, 90:96] = 255  # a bright label in the corner, as scans carry: smaller, so not the brain
    top, left, bottom, right = brain_box(gray)
    assert abs(top - 20) <= 1 and abs(bottom - 81) <= 1 and abs(left - 10) <= 1 and abs(right - 71) <= 1
    assert magnification(gray) == pytest.approx(100 / 61, rel=0.04)
    assert brain_box(np.full((50, 50), 30, np.uint8)) is None, "a slice darker than the threshold has no brain"


def test_the_brain_extent_study_measures_every_image_of_a_manifest(tmp_path: Path) -> None:
    import json

    from brainedge.benchmarks.studies import brain_extent
    from brainedge.train.data.split import make_split
    from brainedge.train.synthetic import generate_dataset

    generate_dataset(tmp_path / "images", images_per_class=6, size=64, seed=0)
    make_split(tmp_path / "images", tmp_path / "manifest.csv", progress=False)
    out = tmp_path / "results" / "extent"
    assert brain_extent.main(["--manifest", str(tmp_path / "manifest.csv"), "--out", str(out)]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    measured = record["magnification"]
    assert record["images"] == measured["all"]["images"] + len(record["no_bright_region"]) > 0
    assert sum(sum(counts) for counts in record["histogram"].values()) == measured["all"]["images"]
    assert set(measured) == {"all", *record["histogram"]}
    assert out.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
