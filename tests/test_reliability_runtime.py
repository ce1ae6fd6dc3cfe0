"""brainedge-classify and the Python API on bad input: one line naming the problem, the documented
exit code (0 all classified, 1 some files bad, 2 nothing could run, 130 interrupted), no traceback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from brainedge.edge_runtime import Bundle, Classifier
from brainedge.edge_runtime.errors import EXIT_INTERRUPTED, BrainEdgeError, report_user_errors
from brainedge.edge_runtime.metadata import METADATA_FILE


@pytest.fixture()
def work(bundles: Path, tmp_path: Path) -> Path:
    """A copy of the int8 bundle and a folder with one good image, to break one way at a time."""
    shutil.copytree(bundles / "int8", tmp_path / "bundle")
    (tmp_path / "scans").mkdir()
    shutil.copy(bundles / "images" / "red" / "0.png", tmp_path / "scans" / "red.png")
    (tmp_path / "a_file").write_text("not a folder")
    return tmp_path


def edit_metadata(bundle: Path, change) -> None:
    raw = json.loads((bundle / METADATA_FILE).read_text())
    change(raw)
    (bundle / METADATA_FILE).write_text(json.dumps(raw))


CASES = {
    "missing bundle": (["--bundle", "{w}/nowhere", "{w}/scans"], 2, "{w}/nowhere: bundle directory not found"),
    "bundle is a file": (["--bundle", "{w}/a_file", "{w}/scans"], 2, "{w}/a_file: not a directory"),
    "wrong JSON type": (["--bundle", "{w}/bundle", "{w}/scans"], 2, 'input.height: expected integer, found "32"'),
    "model replaced": (["--bundle", "{w}/bundle", "{w}/scans"], 2, "does not match the bundle metadata"),
    "model is a folder": (["--bundle", "{w}/bundle", "{w}/scans"], 2, "is a directory, not a model file"),
    "model without labels": (["--model", "{w}/bundle/model.tflite", "{w}/scans"], 2, "--model needs --labels"),
    "top-k 0": (["--bundle", "{w}/bundle", "--top-k", "0", "{w}/scans"], 2, "--top-k must be at least 1"),
    "threads 0": (
        ["--bundle", "{w}/bundle", "--threads", "0", "{w}/scans"],
        2,
        "--threads must be a whole number from 1 to 64",
    ),
    "threshold 1.5": (["--bundle", "{w}/bundle", "--threshold", "1.5", "{w}/scans"], 2, "from 0 to 1, got 1.5"),
    "nothing given": (["--bundle", "{w}/bundle"], 2, "give images or folders"),
    "watch and paths": (["--bundle", "{w}/bundle", "--watch", "{w}/scans", "{w}/scans"], 2, "do not also give"),
    "watch a file": (["--bundle", "{w}/bundle", "--watch", "{w}/a_file"], 2, "{w}/a_file: not a folder"),
    "negative interval": (["--bundle", "{w}/bundle", "--watch", "{w}/scans", "--interval", "-1"], 2, "--interval"),
    "empty folder": (["--bundle", "{w}/bundle", "{w}/empty"], 2, "nothing to classify"),
    "unreadable image": (["--bundle", "{w}/bundle", "{w}/scans"], 1, "{w}/scans/broken.jpg: "),
}
BREAK = {
    "wrong JSON type": lambda w: edit_metadata(w / "bundle", lambda raw: raw["input"].update(height="32")),
    "model replaced": lambda w: (w / "bundle" / "model.tflite").write_bytes(b"another model"),
    "model is a folder": lambda w: ((w / "bundle" / "model.tflite").unlink(), (w / "bundle" / "model.tflite").mkdir()),
    "empty folder": lambda w: (w / "empty").mkdir(),
    "unreadable image": lambda w: (w / "scans" / "broken.jpg").write_bytes(b"\xff\xd8 truncated"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_and_the_documented_exit_code(work: Path, case: str) -> None:
    argv, code, message = CASES[case]
    BREAK.get(case, lambda w: None)(work)
    done = subprocess.run(
        [sys.executable, "-m", "brainedge.edge_runtime", *(arg.format(w=work) for arg in argv)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr and message.format(w=work) in done.stderr, done.stderr
    assert errors and len(done.stderr.splitlines()) == len(errors), done.stderr  # nothing but error lines
    if code == 1:
        assert "scans/red.png: red" in done.stdout  # the good image was still classified


def test_stdout_on_a_full_disk_is_one_line(work: Path) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "brainedge.edge_runtime", "--bundle", str(work / "bundle"), str(work / "scans")],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2 and done.stderr == "error: cannot write to standard output (No space left on device)\n"


def test_ctrl_c_in_a_folder_run_is_one_line_and_exit_130(work: Path) -> None:
    for index in range(400):
        shutil.copy(work / "scans" / "red.png", work / "scans" / f"copy_{index:03d}.png")
    process = subprocess.Popen(
        [sys.executable, "-m", "brainedge.edge_runtime", "--bundle", str(work / "bundle"), str(work / "scans")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline()  # classifying has started
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and err == "interrupted\n", err


def test_ctrl_c_that_a_library_turned_into_another_error_is_still_one_line_and_exit_130(capsys) -> None:
    """numpy, interrupted while converting a TensorShape, raised a TypeError instead (a trainer's
    traceback in CI): what a command raises after Ctrl-C is the interruption, anything else a bug."""

    def swallows_the_interrupt(_: None) -> int:
        try:
            os.kill(os.getpid(), signal.SIGINT)
        except KeyboardInterrupt:
            raise TypeError("int() argument must be a string, a bytes-like object or a real number") from None
        return 0

    assert report_user_errors(swallows_the_interrupt, None) == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "interrupted\n"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "Ctrl-C's handler was not given back"
    with pytest.raises(TypeError):
        report_user_errors(lambda _: int(object()), None)  # no Ctrl-C: a bug, and its traceback stays


def test_a_name_that_is_not_utf8_is_printed_escaped_in_json(work: Path) -> None:
    odd = os.fsencode(work / "scans") + b"/caf\xe9.png"
    shutil.copy(work / "scans" / "red.png", odd.decode(errors="surrogateescape"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "brainedge.edge_runtime",
            "--bundle",
            str(work / "bundle"),
            "--json",
            str(work / "scans"),
        ],
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert done.returncode == 0, done.stderr
    sources = [json.loads(line)["source"] for line in done.stdout.decode("utf-8").splitlines()]
    assert f"{work}/scans/caf\\xe9.png" in sources


def test_the_python_api_raises_only_its_own_error(work: Path) -> None:
    (work / "bundle" / "labels.txt").write_text("red\ngreen\n")
    with pytest.raises(BrainEdgeError, match="labels differ"):
        Classifier.from_bundle(work / "bundle")
    with pytest.raises(BrainEdgeError, match="not a directory"):
        Bundle.open(work / "a_file")
    classifier = Classifier.from_bundle(Bundle.open(work / "bundle", check_model=False))
    for bad in (b"", b"GIF89a", work / "a_file", work / "nowhere.png", str(work / "scans")):
        with pytest.raises(BrainEdgeError):
            classifier.classify(bad)
    assert classifier.classify(work / "scans" / "red.png").label == "red"  # and it still works after them


# --- publishing a new file without replacing one -------------------------------------------------


@pytest.mark.parametrize("links", [True, False], ids=["hard link", "no links (FAT)"])
def test_a_new_file_never_replaces_one_written_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, links: bool
) -> None:
    from brainedge.edge_runtime.files import write_atomically

    if not links:
        monkeypatch.setattr(os, "link", lambda *_: (_ for _ in ()).throw(PermissionError(1, "Operation not permitted")))
    target = tmp_path / "x.png"
    write_atomically(target, b"first", replace=False)
    with pytest.raises(FileExistsError, match="x.png"):
        write_atomically(target, b"second", replace=False)
    assert target.read_bytes() == b"first" and sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]
    write_atomically(target, b"third")  # replacing stays the default
    assert target.read_bytes() == b"third"


# --- a mistake on any command line is one line -------------------------------------------------


@pytest.mark.parametrize(
    ("module", "argv"),
    [
        ("brainedge.edge_runtime.cli", ["--top-k", "abc", "x.jpg"]),
        ("brainedge.benchmarks.cli", ["bundles", "--seed", "x"]),
        ("brainedge.train.data.cli", ["split", "data", "--seed", "x"]),
        ("brainedge.train.cli", ["--epochs-typo", "3"]),
        ("brainedge.export.cli", ["run", "--no-such-option"]),
        ("brainedge.export.demo", ["--epochs", "many"]),
        ("brainedge.export.evaluate", []),
        ("brainedge.edge_runtime.serve.cli", ["--port", "eighty", "--bundle", "b"]),
    ],
)
def test_a_command_line_mistake_is_one_line_naming_the_help(
    module: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib

    with pytest.raises(SystemExit) as exit_status:
        importlib.import_module(module).main(argv)
    err = capsys.readouterr().err
    assert exit_status.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert "--help lists the options" in err and "usage:" not in err


@pytest.mark.parametrize(
    ("module", "argv"),
    [
        ("brainedge.edge_runtime.cli", [""]),
        ("brainedge.benchmarks.cli", ["bundles", "--out", " "]),
        ("brainedge.train.data.cli", ["split", "data", "--out", ""]),
        ("brainedge.train.cli", ["--manifest", "m.csv", "--out", ""]),
        ("brainedge.export.cli", ["", "--out", "x"]),
        ("brainedge.export.evaluate", ["run", "bundles", "--out", ""]),
        ("brainedge.edge_runtime.serve.cli", ["--bundle", ""]),
    ],
)
def test_an_empty_path_is_refused_by_name(module: str, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """``--out "$UNSET"`` would otherwise be the current folder, written into under a message about "."."""
    import importlib

    with pytest.raises(SystemExit) as exit_status:
        importlib.import_module(module).main(argv)
    err = capsys.readouterr().err
    assert exit_status.value.code == 2 and ": an empty path (an unset shell variable?)" in err, err
