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


def test_a_study_replaces_only_its_own_earlier_record_and_writes_it_whole(tmp_path: Path, monkeypatch, capsys) -> None:
    from brainedge.benchmarks.studies import brain_extent
    from brainedge.train.data.split import make_split
    from brainedge.train.synthetic import generate_dataset

    generate_dataset(tmp_path / "images", images_per_class=3, size=48, seed=0)
    make_split(tmp_path / "images", tmp_path / "manifest.csv", progress=False)

    def study(out: Path, manifest: str = str(tmp_path / "manifest.csv")) -> int:
        return brain_extent.main(["--manifest", manifest, "--out", str(out)])

    another_command = f"{tmp_path}/./manifest.csv"  # the same data: only the record's command line differs

    notes = tmp_path / "notes.md"
    notes.write_text("my notes")
    assert study(tmp_path / "notes") == 2  # --out README would replace README.md
    assert "notes.md: exists and is not a study's output (no study record notes.json beside it)" in (
        capsys.readouterr().err
    )
    assert notes.read_text() == "my notes" and not (tmp_path / "notes.json").exists()
    (tmp_path / "data.json").write_text('{"mine": 1}')
    assert study(tmp_path / "data") == 2 and "data.json: exists and is not a study's record" in capsys.readouterr().err
    tasks = tmp_path / "tasks.json"  # another tool's JSON with a "command" in it
    tasks.write_text('{"version": "2.0.0", "tasks": [{"label": "build", "command": "make"}]}')
    assert study(tmp_path / "tasks") == 2 and "tasks.json: exists and is not a study's record" in (
        capsys.readouterr().err
    )

    odd = Path(os.fsdecode(os.fsencode(tmp_path) + b"/extent \xff"))  # a name that is not UTF-8
    assert study(odd) == 0
    assert "extent \\xff" in capsys.readouterr().out  # escaped as files.shown escapes names
    first = {suffix: odd.with_name(odd.name + suffix).read_bytes() for suffix in (".json", ".md", ".png")}
    assert study(odd) == 0, "an earlier record of the study is replaced"

    def interrupted(result):
        raise KeyboardInterrupt

    monkeypatch.setattr(brain_extent, "plot", interrupted)
    assert study(odd, another_command) == 130
    assert {suffix: odd.with_name(odd.name + suffix).read_bytes() for suffix in first} == first, (
        "an interrupted study wrote part of a new record over the old"
    )
    monkeypatch.undo()
    from brainedge.edge_runtime import files

    staged = files._staged
    calls = []

    def stopped_while_writing(path, data):  # Ctrl-C once the record is on disk, before its plot
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return staged(path, data)

    monkeypatch.setattr(files, "_staged", stopped_while_writing)
    assert study(odd, another_command) == 130 and len(calls) == 3
    assert {suffix: odd.with_name(odd.name + suffix).read_bytes() for suffix in first} == first, (
        "a Ctrl-C between writing the files put a new record beside the old plot"
    )
    assert not [name for name in os.listdir(odd.parent) if name.endswith(".tmp")], "temporary files left behind"


def test_the_brain_extent_study_refuses_slices_with_no_brain(tmp_path: Path, capsys) -> None:
    from PIL import Image

    from brainedge.benchmarks.studies import brain_extent
    from brainedge.train.data.split import make_split

    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (tmp_path / "images" / label).mkdir(parents=True)
        for number in range(4):  # distinct dark noise: no near-duplicates (split refuses a class of one group)
            dark = rng.integers(0, 40, (40, 40), dtype=np.uint8)
            Image.fromarray(dark).save(tmp_path / "images" / label / f"{number}.png")
    make_split(tmp_path / "images", tmp_path / "manifest.csv", progress=False)
    out = tmp_path / "extent"
    assert brain_extent.main(["--manifest", str(tmp_path / "manifest.csv"), "--out", str(out)]) == 2
    assert "none of its 8 images has a region brighter than 45/255" in capsys.readouterr().err
    assert not out.with_suffix(".json").exists()
