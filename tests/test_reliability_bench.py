"""brainedge-bench when things go wrong: bad inputs, bad bundles, bad images, a full disk, kills, Ctrl-C.

Every failure must be one line and an exit code, must leave earlier results byte for byte, and must
never lose the other rows. The bundles are the session's tiny real ones (tests/make_tiny_bundles.py).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest
from make_tiny_bundles import CLASSES

from brainedge.benchmarks import cli
from brainedge.benchmarks.report import REPORT_MD, RESULT_CSV, RESULT_JSON, SCHEMA_JSON
from brainedge.benchmarks.report.markdown import METHOD
from brainedge.benchmarks.schema import read_result, schema_text
from brainedge.edge_runtime.files import LOCK_NAME

RUNNER_MODULE = "brainedge.benchmarks.runner"
PAIRED_MODULE = "brainedge.benchmarks.paired"
FAST = ("--runs", "3", "--warmup", "0", "--rounds", "3")


@pytest.fixture(scope="module")
def layout(bundles: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An export folder (float32, int8), a labelled test folder, and a previous result to protect."""
    pytest.importorskip("ai_edge_litert")
    root = tmp_path_factory.mktemp("reliability")
    for name in ("float32", "int8"):
        shutil.copytree(bundles / name, root / "export" / name)
    shutil.copytree(bundles / "images", root / "images")
    previous = root / "previous"
    assert _bench(root / "export" / "float32", "--test-set", root / "images", "--out", previous) == 0
    return {"root": root, "export": root / "export", "images": root / "images", "previous": previous}


def _bench(*args: object) -> int:
    return cli.main([*map(str, args), *FAST])


def _snapshot(folder: Path) -> dict[str, bytes]:
    """The folder's files but its lock file, which a SIGKILLed holder leaves (the next run takes it over)."""
    if not folder.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != LOCK_NAME}


def _earlier_results(layout: dict[str, Path], tmp_path: Path) -> Path:
    out = tmp_path / "results"
    shutil.copytree(layout["previous"], out)
    return out


# ----------------------------------------------------------------------------------------------
# Bad inputs: one line, exit 2, nothing measured, earlier results untouched.

LITERT_LOG_WITHOUT_TIMINGS = "INFO: STARTING!\nINFO: Num threads: [4]\nsomething went wrong\n"


def _bad_out_under_file(layout, tmp_path, out):
    (tmp_path / "a_file").write_text("keep me")
    return [layout["export"], "--out", tmp_path / "a_file" / "results"], "not a folder (", "a_file"


def _bad_out_is_file(layout, tmp_path, out):
    (tmp_path / "a_file").write_text("keep me")
    return [layout["export"], "--out", tmp_path / "a_file"], "cannot write there, not a folder", "a_file"


def _out_holds_other_files(layout, tmp_path, out):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "report.md").write_text("keep me")  # one of bench's names, beside a file of the user's
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    return [layout["export"], "--out", tmp_path / "mine"], "already holds other files (notes.txt)", "mine"


def _out_is_the_current_folder(layout, tmp_path, out):
    return [layout["export"], "--out", "."], "--out is empty or the current folder", "--out"


def _missing_bundle(layout, tmp_path, out):
    return [layout["export"], tmp_path / "no_such_bundle", "--out", out], "not found", "no_such_bundle"


def _no_bundles(layout, tmp_path, out):
    return ["--out", out], "give bundle directories", "--merge"


def _missing_test_set(layout, tmp_path, out):
    return [layout["export"], "--test-set", tmp_path / "nope", "--out", out], "test set not found", "nope"


def _empty_test_set(layout, tmp_path, out):
    for name in CLASSES:
        (tmp_path / "empty" / name).mkdir(parents=True)
    (tmp_path / "empty" / "red" / "notes.txt").write_text("not an image")
    return [layout["export"], "--test-set", tmp_path / "empty", "--out", out], "no images", "empty"


def _foreign_class(layout, tmp_path, out):
    shutil.copytree(layout["images"], tmp_path / "images")
    shutil.copytree(layout["images"] / "red", tmp_path / "images" / "pituitary")
    return [layout["export"], "--test-set", tmp_path / "images", "--out", out], "not in the bundle", "pituitary"


def _unknown_reference(layout, tmp_path, out):
    return [layout["export"], "--reference", "nope", "--out", out], "is not one of the artifacts", "nope"


def _zero_runs(layout, tmp_path, out):
    return [layout["export"], "--out", out, "--runs", "0"], "--runs must be at least 1", "--runs"


def _zero_rounds(layout, tmp_path, out):
    return [layout["export"], "--out", out, "--rounds", "0"], "--rounds and --block must be at least 1", "got 0"


def _zero_threads(layout, tmp_path, out):
    return (
        [layout["export"], "--out", out, "--threads", "1", "0"],
        "--threads must be a whole number from 1 to 64",
        "got 0",
    )


def _negative_settle(layout, tmp_path, out):
    return [layout["export"], "--out", out, "--settle", "-1"], "--settle must be a number from 0 to 3600", "got -1"


def _merge_not_json(layout, tmp_path, out):
    (tmp_path / "pi.json").write_text("{half a file")
    args = ["--merge", layout["previous"] / RESULT_JSON, tmp_path / "pi.json", "--out", out]
    return args, "not valid JSON", "pi.json"


def _merge_missing(layout, tmp_path, out):
    args = ["--merge", layout["previous"] / RESULT_JSON, tmp_path / "pi.json", "--out", out]
    return args, "result file not found", "pi.json"


def _merge_folder(layout, tmp_path, out):
    args = ["--merge", layout["previous"] / RESULT_JSON, tmp_path, "--out", out]
    return args, "cannot read the result file", str(tmp_path)


def _merge_binary(layout, tmp_path, out):
    (tmp_path / "pi.json").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    args = ["--merge", layout["previous"] / RESULT_JSON, tmp_path / "pi.json", "--out", out]
    return args, "not UTF-8", "pi.json"


def _merge_invalid_row(layout, tmp_path, out):
    result = json.loads((layout["previous"] / RESULT_JSON).read_text())
    result["rows"][0]["status"] = "fine"
    (tmp_path / "pi.json").write_text(json.dumps(result))
    args = ["--merge", layout["previous"] / RESULT_JSON, tmp_path / "pi.json", "--out", out]
    return args, "rows[0].status: 'fine' is not one of", "pi.json"


def _merge_one_file(layout, tmp_path, out):
    return ["--merge", layout["previous"] / RESULT_JSON, "--out", out], "at least two result files", "--merge"


def _import_not_a_log(layout, tmp_path, out):
    (tmp_path / "pixel.txt").write_text(LITERT_LOG_WITHOUT_TIMINGS)
    return ["--import-litert", tmp_path / "pixel.txt", "--out", out], "no 'Inference timings in us", "pixel.txt"


def _import_missing(layout, tmp_path, out):
    return ["--import-litert", tmp_path / "pixel.txt", "--out", out], "cannot read", "pixel.txt"


def _import_bad_out(layout, tmp_path, out):
    (tmp_path / "a_file").write_text("keep me")
    (tmp_path / "pixel.txt").write_text(LITERT_LOG_WITHOUT_TIMINGS)
    args = ["--import-litert", tmp_path / "pixel.txt", "--out", tmp_path / "a_file" / "x"]
    return args, "not a folder (", "a_file"


BAD_INPUTS: dict[str, Callable] = {
    "out under a file": _bad_out_under_file,
    "out is a file": _bad_out_is_file,
    "missing bundle": _missing_bundle,
    "no bundles": _no_bundles,
    "missing test set": _missing_test_set,
    "empty test set": _empty_test_set,
    "test class the bundles lack": _foreign_class,
    "out holds other files": _out_holds_other_files,
    "out is the current folder": _out_is_the_current_folder,
    "unknown reference": _unknown_reference,
    "zero runs": _zero_runs,
    "zero rounds": _zero_rounds,
    "negative settle": _negative_settle,
    "zero threads": _zero_threads,
    "merge: not JSON": _merge_not_json,
    "merge: missing file": _merge_missing,
    "merge: a folder": _merge_folder,
    "merge: binary file": _merge_binary,
    "merge: schema-invalid row": _merge_invalid_row,
    "merge: one file": _merge_one_file,
    "import-litert: not a benchmark_model log": _import_not_a_log,
    "import-litert: missing log": _import_missing,
    "import-litert: out under a file": _import_bad_out,
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_one_line_and_keeps_earlier_results(case, layout, tmp_path, capsys):
    out = _earlier_results(layout, tmp_path)
    before = _snapshot(out)
    args, message, names = BAD_INPUTS[case](layout, tmp_path, out)
    assert cli.main([str(a) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert message in err and names in err, err
    assert "benchmarking" not in err  # refused before any runner was started
    assert _snapshot(out) == before
    if (tmp_path / "a_file").exists():
        assert (tmp_path / "a_file").read_text() == "keep me"
    if (tmp_path / "mine").exists():
        assert [p.read_text() for p in sorted((tmp_path / "mine").iterdir())] == ["keep me", "keep me"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway")
def test_read_only_out_is_refused_before_the_work(layout, tmp_path, capsys):
    out = _earlier_results(layout, tmp_path)
    before = _snapshot(out)
    out.chmod(0o555)
    try:
        assert _bench(layout["export"], "--out", out) == 2
    finally:
        out.chmod(0o755)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out}: cannot write there" in err and "benchmarking" not in err
    assert _snapshot(out) == before


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names an fd's file through /proc")
def test_full_disk_after_the_work_is_one_line_and_replaces_nothing(layout, tmp_path, capsys, monkeypatch):
    """ENOSPC while results.json (the last file) is staged: no file is replaced, no temporary is left."""
    out = _earlier_results(layout, tmp_path)
    before = _snapshot(out)
    real_fsync = os.fsync

    def full_disk(descriptor: int) -> None:
        if RESULT_JSON in os.readlink(f"/proc/self/fd/{descriptor}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", full_disk)
    assert _bench(layout["export"] / "float32", "--test-set", layout["images"], "--out", out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: {out / RESULT_JSON}: cannot write (No space left on device)"
    assert _snapshot(out) == before  # not even results.csv or report.md: everything is staged first


# ----------------------------------------------------------------------------------------------
# Bad bundles and bad images fail their own rows; the rest of the run goes on.


@pytest.fixture(scope="module")
def mixed_run(layout, tmp_path_factory) -> tuple[int, dict, Path, dict[str, Path], str]:
    """float32, int8, a bundle with broken metadata.json, one without its model, and an export's
    hidden staging folder, measured on a test set whose first image (and one more) are unreadable."""
    root = tmp_path_factory.mktemp("mixed")
    export = root / "export"
    shutil.copytree(layout["export"], export)
    shutil.copytree(export / "int8", export / ".tflite_int8_ptq-x1y2z3")
    shutil.copytree(export / "int8", export / "bad_metadata")
    (export / "bad_metadata" / "metadata.json").write_text('{"model_file": "model.tflite", ')
    shutil.copytree(export / "int8", export / "no_model")
    (export / "no_model" / "model.tflite").unlink()
    (export / "notes").mkdir()  # no bundle at all: passed over, but said
    (export / "notes" / "readme.txt").write_text("not a bundle")
    images = root / "images"
    shutil.copytree(layout["images"], images)
    first_class = sorted(images.iterdir())[0]
    first = sorted(first_class.iterdir())[0]  # the image the runner once took as its latency input
    broken = {"truncated first": first, "garbage": first_class / "9_garbage.png"}
    first.write_bytes(first.read_bytes()[:60])
    broken["garbage"].write_bytes(b"this is not a PNG")
    out = root / "out"
    said = io.StringIO()
    with contextlib.redirect_stderr(said):
        code = _bench(export, "--test-set", images, "--out", out, "--device-name", "desk")
    return code, read_result(out / RESULT_JSON), out, broken, said.getvalue()


def test_bad_bundles_fail_their_own_rows(mixed_run):
    code, result, _, _, said = mixed_run
    assert code == 1
    rows = {r["artifact"]: r for r in result["rows"]}
    assert set(rows) == {"float32", "int8", "bad_metadata", "no_model"}  # the staging folder is not a row
    assert rows["float32"]["status"] == rows["int8"]["status"] == "ok"
    failed = {name: row["error"] for name, row in rows.items() if row["status"] == "failed"}
    assert set(failed) == {"bad_metadata", "no_model"}
    assert "bad_metadata/metadata.json: not valid JSON" in failed["bad_metadata"]
    assert "model file named in the bundle metadata is missing" in failed["no_model"]
    assert rows["no_model"]["format"] == "unknown" and rows["no_model"]["latency_ms"] is None
    # The interleaved phase timed the two good bundles together; the bad ones never entered it.
    assert rows["bad_metadata"]["paired"] is None and rows["no_model"]["paired"] is None
    for name in ("float32", "int8"):
        assert rows[name]["paired"]["artifacts"] == 2 and rows[name]["paired"]["error"] is None
        assert len(rows[name]["paired"]["round_ms"]) == 3
    assert result["ratios"][0]["paired_rounds"] == 3
    # stderr says why each failed row failed, and names the folder with no bundle
    assert "failed: " in said and "bad_metadata/metadata.json: not valid JSON" in said
    assert "/notes: no bundle in this folder; skipped" in said and "int8: no bundle" not in said


def test_unreadable_images_fail_no_row_and_are_named(mixed_run, layout):
    _, result, out, broken, _ = mixed_run
    total = sum(1 for _ in layout["images"].rglob("*.png")) + 1
    for row in (r for r in result["rows"] if r["status"] == "ok"):
        assert row["images"] == total and row["image_errors"] == 2
        assert {image["path"] for image in row["unreadable_images"]} == {str(p) for p in broken.values()}
        assert row["latency_ms"]["p50"] > 0  # the latency input is the first image that decodes
        assert row["accuracy"] <= (total - 2) / total  # an unreadable image counts as wrong
    report = (out / REPORT_MD).read_text()
    assert "## Unreadable test images" in report
    for path in broken.values():
        assert f"`{path}`" in report


def test_an_explicitly_named_staging_folder_is_a_failed_row(layout, tmp_path):
    staging = tmp_path / ".tflite_int8_ptq-abc123"
    shutil.copytree(layout["export"] / "int8", staging)
    assert _bench(layout["export"] / "float32", staging, "--out", tmp_path / "out") == 1
    rows = {r["artifact"]: r for r in read_result(tmp_path / "out" / RESULT_JSON)["rows"]}
    assert rows["float32"]["status"] == "ok"
    assert rows[staging.name]["status"] == "failed" and "hidden folder" in rows[staging.name]["error"]


# ----------------------------------------------------------------------------------------------
# Kills and Ctrl-C, in a real subprocess: earlier results intact or wholly replaced, no runner left.

PAUSING_BENCH = """\
import os, sys, time
from pathlib import Path
real_fsync, mark, pause_at = os.fsync, Path(sys.argv[1]), sys.argv[2]
def fsync_then_pause(descriptor):
    real_fsync(descriptor)
    if pause_at in os.readlink(f"/proc/self/fd/{descriptor}"):
        mark.touch()
        time.sleep(60)
os.fsync = fsync_then_pause
from brainedge.benchmarks.cli import main
sys.exit(main(sys.argv[3:]))
"""
"""brainedge-bench that pauses right after a file is staged (fsynced, not yet renamed): the window
a kill "while writing" must survive, made wide enough to hit every time."""


def _runners_of(bundle_root: Path, modules: tuple[str, ...] = (RUNNER_MODULE, PAIRED_MODULE)) -> list[int]:
    """Live measuring processes (a runner, the interleaved phase) measuring a bundle under ``bundle_root``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if (
            entry.name.isdigit()
            and any(module.encode() in command for module in modules)
            and str(bundle_root).encode() in b" ".join(command)
        ):
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z":
                found.append(int(entry.name))
    return found


def _wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _complete(name: str, data: bytes) -> bool:
    """A whole file of its kind, as a finished run writes it."""
    if name == RESULT_JSON:
        return json.loads(data)["schema_version"] >= 1
    if name == REPORT_MD:
        return data.decode().endswith(METHOD)
    if name == SCHEMA_JSON:
        return data.decode() == schema_text()
    if name == RESULT_CSV:
        return data.startswith(b"run,device,") and data.endswith(b"\r\n")
    return data.startswith(b"\x89PNG") and data.endswith(b"IEND\xaeB`\x82")


def _assert_intact_or_replaced(out: Path, before: dict[str, bytes]) -> None:
    after = {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith(".")}
    assert set(after) == set(before)
    changed = {name for name in before if after[name] != before[name]}
    for name in changed:
        assert _complete(name, after[name]), f"{name} is half-written"
    if RESULT_JSON in changed:  # renamed last: a new results.json has its own report beside it
        created = json.loads(after[RESULT_JSON])["runs"][0]["created"]
        assert REPORT_MD in changed and f"({created})" in after[REPORT_MD].decode()
    for hidden in (p for p in out.iterdir() if p.name.startswith(".") and p.name != LOCK_NAME):
        assert hidden.name.endswith(".tmp")  # a kill can leave a staging file (and its lock), never a final name


@pytest.fixture
def kill_setup(layout, tmp_path) -> Iterator[tuple[Path, dict[str, bytes], Path]]:
    """A private copy of the bundles (so runners are recognisable) and earlier results to protect.

    A runner a failing test leaves behind is killed afterwards, never left warming up for hours.
    """
    shutil.copytree(layout["export"], tmp_path / "export")
    out = _earlier_results(layout, tmp_path)
    yield out, _snapshot(out), tmp_path / "export"
    for pid in _runners_of(tmp_path / "export"):
        os.kill(pid, signal.SIGKILL)


def _start(command: list[str], group: bool) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=group)


ENDLESS = {
    # An endless warm-up (it keeps no samples, so no memory grows): the kill lands in a runner.
    RUNNER_MODULE: ("--warmup", "1000000000"),
    # Quick runners, then rounds without end (a few samples a round): the kill lands in the interleaved phase.
    PAIRED_MODULE: ("--runs", "3", "--warmup", "0", "--rounds", "1000000000"),
}


@pytest.mark.slow
@pytest.mark.parametrize("module", [RUNNER_MODULE, PAIRED_MODULE], ids=["in a runner", "in the interleaved phase"])
@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT to the bench", "SIGINT to its process group (Ctrl-C)"])
def test_kill_during_measurement(how, module, kill_setup, layout):
    out, before, export = kill_setup
    command = [sys.executable, "-m", "brainedge.benchmarks", str(export), "--test-set", str(layout["images"])]
    bench = _start([*command, "--out", str(out), *ENDLESS[module]], group=True)
    try:
        _wait_for(lambda: _runners_of(export, (module,)), 60, f"{module} to start")
        time.sleep(1.0)  # inside the measurement, not its start-up
        if how == "SIGKILL":
            bench.send_signal(signal.SIGKILL)
        elif how.startswith("SIGINT to its"):
            os.killpg(bench.pid, signal.SIGINT)
        else:
            bench.send_signal(signal.SIGINT)
        _, err = bench.communicate(timeout=30)
    finally:
        bench.kill()
    if how == "SIGKILL":
        assert bench.returncode == -signal.SIGKILL
    else:
        assert (bench.returncode, err.strip().splitlines()[-1]) == (130, "interrupted")
        assert "Traceback" not in err
    _wait_for(lambda: not _runners_of(export), 5, "the measuring process to die with the bench")
    assert _snapshot(out) == before  # nothing was written yet


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names an fd's file through /proc")
@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGINT"])
@pytest.mark.parametrize("pause_at", [RESULT_CSV, RESULT_JSON])
def test_kill_while_writing(signal_name, pause_at, kill_setup, layout, tmp_path):
    out, before, export = kill_setup
    mark = tmp_path / "paused"
    script = tmp_path / "pausing_bench.py"
    script.write_text(PAUSING_BENCH)
    args = [str(export / "float32"), "--test-set", str(layout["images"]), "--out", str(out), *FAST]
    bench = _start([sys.executable, str(script), str(mark), f".{pause_at}-", *args], group=False)
    try:
        _wait_for(mark.exists, 120, f"{pause_at} to be staged")
        bench.send_signal(getattr(signal, signal_name))
        _, err = bench.communicate(timeout=30)
    finally:
        bench.kill()
    if signal_name == "SIGINT":
        assert (bench.returncode, err.strip().splitlines()[-1]) == (130, "interrupted")
        assert "Traceback" not in err
        assert not [p for p in out.iterdir() if p.name.startswith(".")]  # Ctrl-C cleans its staging files
    _assert_intact_or_replaced(out, before)
    assert {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith(".")} == before  # none renamed
    assert not _runners_of(export)
    # The next run cleans what a SIGKILL left and replaces the whole set.
    assert _bench(export / "float32", "--test-set", layout["images"], "--out", out) == 0
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    _assert_intact_or_replaced(out, before)


def test_an_unreadable_test_image_is_named_on_stderr_and_exits_1(layout, tmp_path, capsys) -> None:
    """Like brainedge-classify: the run completes, and a bad input is said and counted in the exit code."""
    test_set = tmp_path / "test_set"
    shutil.copytree(layout["images"], test_set)
    (test_set / CLASSES[0] / "zz_broken.png").write_bytes(b"\x89PNG truncated")
    assert _bench(layout["export"] / "int8", "--test-set", test_set, "--out", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "zz_broken.png" in err and "(counted as a wrong answer)" in err and "Traceback" not in err
    assert read_result(tmp_path / "out" / RESULT_JSON)["rows"][0]["status"] == "ok"
