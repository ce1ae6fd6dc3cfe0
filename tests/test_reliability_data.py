"""Issue #16, the data stage: linked folders, odd names and files, atomic writes, bad input, kills.

One walk rule (``edge_runtime.files.walk_files``) serves brainedge-data, brainedge-train --data,
brainedge-classify and brainedge-bench; these tests hold each of them to it.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from data_images import make_dataset

from brainedge.benchmarks.dataset import folder_test_set
from brainedge.edge_runtime.classifier import collect_files
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import shown, walk_files
from brainedge.edge_runtime.manifest import Manifest, ManifestRow, read_manifest, write_manifest
from brainedge.train.data import cli
from brainedge.train.data.loading import load_dataset, load_roots
from brainedge.train.data.split import make_split
from brainedge.train.synthetic import generate_dataset

BAD_NAME = os.fsdecode(b"caf\xe9.png")
"""A Latin-1 file name: not valid UTF-8, so Python holds it surrogate-escaped."""


def _run_data(*args: str, encoding: str = "ascii") -> subprocess.CompletedProcess[str]:
    """brainedge-data in a subprocess whose terminal cannot print anything but ASCII."""
    env = {**os.environ, "PYTHONIOENCODING": encoding, "LC_ALL": "C"}
    command = [sys.executable, "-m", "brainedge.train.data", *args, "--quiet"]
    return subprocess.run(command, capture_output=True, text=True, errors="replace", env=env, timeout=120)


# Paths: links, cycles, non-regular files, names that are not UTF-8.


def test_split_a_kaggle_root_whose_parts_are_links(tmp_path, capsys):
    real = tmp_path / "elsewhere"
    make_dataset(real / "Training", {"a": 6, "b": 6})
    make_dataset(real / "Testing", {"a": 3, "b": 3}, seed=1)
    root = tmp_path / "kaggle"
    root.mkdir()
    (root / "Training").symlink_to(real / "Training")
    (root / "Testing").symlink_to(real / "Testing")
    out = tmp_path / "split.csv"
    assert cli.main(["split", str(root), "--out", str(out), "--quiet"]) == 0
    manifest = read_manifest(out)
    assert {row.path.split("/")[0] for row in manifest.rows} == {"Training", "Testing"}
    assert all(path.is_file() for split in ("train", "val", "test") for path, _ in manifest.files(split))
    assert cli.main(["audit", str(root / "Training"), str(root / "Testing"), "--out", str(tmp_path / "r")]) == 0
    assert load_roots([root / "Training", root / "Testing"]).parts == ("Training", "Testing")


def test_linked_class_folder_and_linked_subfolder_are_followed(tmp_path):
    root = make_dataset(tmp_path / "ds", {"a": 3, "b": 3})
    make_dataset(tmp_path / "more", {"c": 3, "extra": 2}, seed=2)
    (root / "c").symlink_to(tmp_path / "more" / "c")
    (root / "a" / "linked").symlink_to(tmp_path / "more" / "extra")
    dataset = load_dataset(root)
    assert dict(dataset.class_counts()) == {"a": 5, "b": 3, "c": 3}
    assert "a/linked/img_000.png" in {image.rel for image in dataset.images}


def test_link_cycles_are_reported_and_walked_once(tmp_path):
    root = make_dataset(tmp_path / "ds", {"a": 3, "b": 3})
    (root / "a" / "loop").symlink_to(root / "a")
    (root / "b" / "self").symlink_to(root / "b" / "self")
    dataset = load_dataset(root)
    assert dict(dataset.class_counts()) == {"a": 3, "b": 3}
    reasons = dict(dataset.skipped)
    assert "already walked" in reasons["a/loop"]
    assert "cannot read" in reasons["b/self"]  # a link to itself: ELOOP


def test_a_link_back_into_the_dataset_never_relabels_other_classes(tmp_path):
    """glioma/loop -> the dataset root (or another part's class) would count every class as glioma."""
    make_dataset(tmp_path / "ds" / "Training", {"a": 3, "b": 3})
    make_dataset(tmp_path / "ds" / "Testing", {"a": 2, "b": 2}, seed=3)
    (tmp_path / "ds" / "Training" / "a" / "to_root").symlink_to(tmp_path / "ds")
    (tmp_path / "ds" / "Training" / "b" / "to_test").symlink_to(tmp_path / "ds" / "Testing" / "a")
    (tmp_path / "ds" / "Training" / "a" / "to_train").symlink_to(tmp_path / "ds" / "Training")
    dataset = load_dataset(tmp_path / "ds")
    labels = {(image.part, image.label): 0 for image in dataset.images}
    for image in dataset.images:
        labels[(image.part, image.label)] += 1
    assert labels == {("Training", "a"): 3, ("Training", "b"): 3, ("Testing", "a"): 2, ("Testing", "b"): 2}
    reasons = dict(dataset.skipped)
    for link in ("Training/a/to_root", "Training/b/to_test", "Training/a/to_train"):
        assert "already walked" in reasons[link], reasons


def test_fifo_socket_and_broken_link_are_reported_never_opened(tmp_path):
    root = make_dataset(tmp_path / "ds", {"a": 3, "b": 3})
    os.mkfifo(root / "a" / "pipe.png")  # opening it would block the audit forever
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(root / "b" / "sock.png"))
    (root / "b" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    try:
        reasons = dict(load_dataset(root).skipped)
        manifest = make_split(root, tmp_path / "split.csv", progress=False)
    finally:
        listener.close()
    assert reasons == {
        "a/pipe.png": "a FIFO, not a regular file; skipped",
        "b/gone.png": "broken symbolic link",
        "b/sock.png": "a socket, not a regular file; skipped",
    }
    assert len(manifest.rows) == 6


def test_names_that_are_not_utf8_are_left_out_with_a_reason_whatever_the_terminal(tmp_path):
    root = make_dataset(tmp_path / "ds", {"a": 4, "b": 3, "café": 3})
    (root / "a" / "img_000.png").rename(root / "a" / BAD_NAME)
    done = _run_data("split", str(root), "--out", str(tmp_path / "split.csv"))
    assert done.returncode == 0, done.stderr
    assert "caf\\xe9.png: name is not valid UTF-8" in done.stderr
    assert "classes a, b, caf\\xe9" in done.stdout  # "café" escaped for an ASCII terminal
    assert {row.label for row in read_manifest(tmp_path / "split.csv").rows} == {"a", "b", "café"}
    done = _run_data("audit", str(root), "--out", str(tmp_path / "report"))
    assert done.returncode == 0, done.stderr
    assert "caf\\\\xe9.png" in (tmp_path / "report" / "audit.json").read_text()


def test_a_class_folder_name_that_is_not_utf8_is_one_line(tmp_path):
    root = make_dataset(tmp_path / "ds", {"a": 3, "b": 3})
    (root / "b").rename(root / os.fsdecode(b"b\xff"))
    for command in (["split", str(root), "--out", str(tmp_path / "s.csv")], ["audit", str(root)]):
        done = _run_data(*command)
        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr == f"error: {root}/b\\xff: class folder name is not valid UTF-8; rename it " + (
            "(manifests and bundles store class names as UTF-8 text)\n"
        )


@pytest.mark.parametrize("name", ["glioma ", " glioma", "gli\noma", "gli\u2028oma"])
def test_class_names_a_bundle_cannot_carry_are_refused_at_audit_and_split(tmp_path, capsys, name):
    root = make_dataset(tmp_path / "ds", {"a": 3, name: 3})
    for command in (["split", str(root), "--out", str(tmp_path / "s.csv")], ["audit", str(root)]):
        assert cli.main([*command, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {shown(root / name)}: class name '{shown(name)}' ")
        assert err.count("\n") == 1
        assert "which a model bundle's class names cannot be; rename the folder" in err
    assert not (tmp_path / "s.csv").exists()


def test_a_mapping_can_rename_such_a_class(tmp_path):
    root = make_dataset(tmp_path / "ds", {"a": 3, "glioma ": 3})
    manifest = make_split(root, tmp_path / "s.csv", mapping={"glioma ": "glioma"}, progress=False)
    assert manifest.class_names() == ["a", "glioma"]
    assert read_manifest(tmp_path / "s.csv").files("train")[0][0].is_file()


def test_manifest_written_through_a_linked_folder_resolves_either_way(tmp_path):
    root = make_dataset(tmp_path / "data" / "ds", {"a": 3, "b": 3})
    (tmp_path / "real" / "deep").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real" / "deep")
    make_split(root, tmp_path / "link" / "split.csv", progress=False)
    for path in (tmp_path / "link" / "split.csv", (tmp_path / "link" / "split.csv").resolve()):
        files = read_manifest(path).files("train")  # trainer and export read the resolved path
        assert files and all(file.is_file() for file, _ in files), path


def test_manifest_stores_names_with_commas_quotes_and_line_separators(tmp_path):
    names = ["a/x,1.png", 'a/"q".png', "a/line\nbreak.png", "a/para\u2029graph.png", "a/tab\tx.png"]
    rows = [ManifestRow(name, "a", "train", "g", "0" * 64, 1, 1, False) for name in names]
    write_manifest(tmp_path / "m.csv", Manifest(tmp_path, rows))
    assert sorted(row.path for row in read_manifest(tmp_path / "m.csv").rows) == sorted(names)


def test_manifest_refuses_names_that_are_not_utf8(tmp_path):
    (tmp_path / "m.csv").write_text("previous")
    rows = [ManifestRow(f"a/{BAD_NAME}", "a", "train", "g", "0" * 64, 1, 1, False)]
    with pytest.raises(BrainEdgeError, match=r"m.csv: cannot store 'a/caf\\\\xe9.png': name is not valid UTF-8"):
        write_manifest(tmp_path / "m.csv", Manifest(tmp_path, rows))
    assert (tmp_path / "m.csv").read_text() == "previous"


def test_classify_collects_through_links_and_reports_what_it_skips(tmp_path):
    make_dataset(tmp_path / "other", {"x": 2})
    folder = tmp_path / "in"
    make_dataset(folder, {"a": 2})
    (folder / "a" / "linked").symlink_to(tmp_path / "other" / "x")
    (folder / "a" / "loop").symlink_to(folder)
    os.mkfifo(folder / "a" / "pipe.png")
    (folder / "a" / BAD_NAME).write_bytes(b"")
    (folder / "empty").mkdir()
    os.mkfifo(tmp_path / "given.png")
    files, problems = collect_files([folder, tmp_path / "given.png", tmp_path / "missing.png"])
    assert [path.relative_to(tmp_path).as_posix() for path in files] == [
        f"in/a/{BAD_NAME}",  # classified: a runtime answer needs no UTF-8 name
        "in/a/img_000.png",
        "in/a/img_001.png",
        "in/a/linked/img_000.png",
        "in/a/linked/img_001.png",
        "missing.png",
    ]
    assert problems == [
        f"{folder / 'empty'}: empty folder, no images to classify",
        f"{folder / 'a' / 'pipe.png'}: a FIFO, not a regular file; skipped",
        f"{folder / 'a' / 'loop'}: same folder as {folder}, already walked (a link cycle?)",
        f"{tmp_path / 'given.png'}: not a regular file (a FIFO, socket or device); skipped",
    ]


def test_bench_folder_test_set_follows_links_and_skips_fifos(tmp_path, capsys):
    make_dataset(tmp_path / "real", {"b": 2})
    root = make_dataset(tmp_path / "test", {"a": 3})
    (root / "b").symlink_to(tmp_path / "real" / "b")
    os.mkfifo(root / "a" / "pipe.png")
    assert folder_test_set(root).class_names == ["a", "a", "a", "b", "b"]
    assert f"warning: skipped {root / 'a' / 'pipe.png'}: a FIFO" in capsys.readouterr().err


def test_walk_shows_undecodable_names_printably(tmp_path):
    (tmp_path / BAD_NAME).write_bytes(b"")
    assert walk_files(tmp_path, text_names=True).problems == [
        (tmp_path / BAD_NAME, "name is not valid UTF-8; rename it")
    ]
    assert shown(tmp_path / BAD_NAME) == f"{tmp_path}/caf\\xe9.png"
    assert shown("a\nb\u2028c d é") == "a\\nb\\u2028c d é"


# Writes: atomic, and an output that cannot be written is one line, before the work where it can be.


@pytest.fixture
def previous(tmp_path) -> dict[Path, bytes]:
    """A dataset, a good manifest and a good audit report: what a failed command must leave as it was."""
    root = make_dataset(tmp_path / "ds", {"a": 4, "b": 4})
    assert cli.main(["split", str(root), "--out", str(tmp_path / "out" / "split.csv"), "--quiet", "--seed", "3"]) == 0
    assert cli.main(["audit", str(root), "--out", str(tmp_path / "out" / "audit"), "--quiet"]) == 0
    return _files(tmp_path / "out")


def _files(folder: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def _intact(previous: dict[Path, bytes], folder: Path) -> None:
    assert _files(folder) == previous


def test_full_disk_leaves_the_previous_manifest_and_report(tmp_path, previous, capsys, monkeypatch):
    capsys.readouterr()

    def full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    out = tmp_path / "out" / "split.csv"
    assert cli.main(["split", str(tmp_path / "ds"), "--out", str(out), "--quiet"]) == 2
    assert capsys.readouterr().err == (
        f"error: {out}: cannot write (No space left on device); any previous version is intact\n"
    )
    assert cli.main(["audit", str(tmp_path / "ds"), "--out", str(tmp_path / "out" / "audit"), "--quiet"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    _intact(previous, tmp_path / "out")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_is_refused_before_the_work(tmp_path, previous, capsys):
    capsys.readouterr()
    (tmp_path / "out").chmod(0o555)
    try:
        assert cli.main(["split", str(tmp_path / "ds"), "--out", str(tmp_path / "out" / "new.csv"), "--quiet"]) == 2
    finally:
        (tmp_path / "out").chmod(0o755)
    assert "cannot write there (permission denied" in capsys.readouterr().err


# Bad input for brainedge-data: one line, the exit code, and earlier outputs intact.

BAD_INPUTS = [
    (["split", "{tmp}/nope", "--out", "{out}/x.csv"], "{tmp}/nope: no such directory"),
    (["split", "{out}/split.csv", "--out", "{out}/x.csv"], "{out}/split.csv: not a directory"),
    (["split", "{tmp}/empty", "--out", "{out}/x.csv"], "{tmp}/empty: empty folder; expected"),
    (["split", "{tmp}/ds", "--out", "{out}/split.csv/x.csv"], "{out}/split.csv: cannot write there, not a folder"),
    (["split", "{tmp}/ds", "--out", "{out}/audit"], "{out}/audit: is a folder; expected the name of a file"),
    (["split", "{tmp}/ds", "--out", "{out}/split.csv", "--val", "0.6", "--test", "0.5"], "val fraction 0.6"),
    (["split", "{tmp}/small", "--out", "{out}/split.csv"], "{tmp}/small: class 'b' has 2 readable image(s)"),
    (["split", "{tmp}/spaced", "--out", "{out}/split.csv"], "{tmp}/spaced/b : class name 'b ' has leading"),
    (["split", "{tmp}/ds", "--out", "{out}/split.csv", "--mapping", "{tmp}/no.json"], "{tmp}/no.json: cannot read"),
    (["split", "{tmp}/ds", "--out", "{out}/split.csv", "--binary", "zz"], "class mapping names 'zz', not a class"),
    (["audit"], "give dataset roots or --manifest FILE"),
    (["audit", "{tmp}/ds", "--manifest", "{out}/split.csv"], "give dataset roots or --manifest FILE"),
    (["audit", "--manifest", "{tmp}/no.csv", "--out", "{out}/audit"], "{tmp}/no.csv: no such manifest file"),
    (["audit", "--manifest", "{out}/split.csv", "--binary", "a"], "--binary/--mapping apply to roots"),
    (["audit", "{tmp}/ds", "--out", "{out}/split.csv"], "{out}/split.csv: cannot write there, not a folder"),
    (["audit", "{tmp}/ds", "--out", "{out}/split.csv/r"], "{out}/split.csv/r: cannot write there, not a folder"),
    (["audit", "{tmp}/ds", "{tmp}/ds", "--out", "{out}/audit"], "the same folder is given twice"),
    (["weights", "{tmp}/no.csv"], "{tmp}/no.csv: no such manifest file"),
    (["weights", "{tmp}/garbage.csv"], "{tmp}/garbage.csv: not a BrainEdge manifest"),
    (["weights", "{tmp}/badrow.csv"], "{tmp}/badrow.csv:3: split must be one of train, val, test, got 'trian'"),
    (["weights", "{out}/audit"], "{out}/audit: cannot read manifest"),
]


@pytest.mark.parametrize(
    "argv, message", BAD_INPUTS, ids=[" ".join(argv[:2]) + f"-{i}" for i, (argv, _) in enumerate(BAD_INPUTS)]
)
def test_bad_input_is_one_line_exit_2_and_earlier_outputs_intact(tmp_path, previous, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    make_dataset(tmp_path / "small", {"a": 3, "b": 2})
    make_dataset(tmp_path / "spaced", {"a": 3, "b ": 3})
    (tmp_path / "garbage.csv").write_text("path,label\n")
    (tmp_path / "badrow.csv").write_text(
        "# root: ds\n" + "path,label,split,group,sha256,width,height,leaked\na/x.png,a,trian,g,0,1,1,false\n"
    )
    capsys.readouterr()
    fill = {"tmp": str(tmp_path), "out": str(tmp_path / "out")}
    assert cli.main([arg.format(**fill) for arg in argv] + (["--quiet"] if argv[0] != "weights" else [])) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: " + message.format(**fill)), captured.err
    assert captured.err.count("\n") == 1, captured.err
    _intact(previous, tmp_path / "out")


# Kills: SIGKILL or Ctrl-C at any moment leaves the previous manifest whole.

SLOW_FSYNC = """
import os, sys, time
from brainedge.train.data import cli
real_fsync = os.fsync
def slow_fsync(descriptor):
    time.sleep(60)  # the temporary file is written and not yet renamed: the moment to kill
    real_fsync(descriptor)
os.fsync = slow_fsync
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def big_dataset(tmp_path_factory) -> Path:
    """Enough images (400) that hashing runs in a process pool for a while."""
    return generate_dataset(tmp_path_factory.mktemp("kill") / "ds", images_per_class=100, size=128)


def _wait_for_workers(process: subprocess.Popen) -> None:
    """Until the hashing pool's worker processes exist: the audit is under way."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    deadline = time.monotonic() + 120
    while not children.read_text().split():
        assert process.poll() is None and time.monotonic() < deadline, "the split ended before hashing"
        time.sleep(0.01)


def _wait_for_temporary(folder: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not any(path.stat().st_size for path in folder.glob(".split.csv-*.tmp")):  # written, now in fsync
        assert process.poll() is None and time.monotonic() < deadline, "the split ended before writing"
        time.sleep(0.01)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
@pytest.mark.parametrize("moment", ["hashing", "temporary file written"])
def test_killed_split_leaves_the_previous_manifest(tmp_path, big_dataset, sig, moment):
    out = tmp_path / "split.csv"
    make_split(big_dataset, out, seed=1, progress=False, workers=1)
    before = out.read_bytes()
    argv = ["split", str(big_dataset), "--out", str(out), "--seed", "2", "--quiet", "--workers", "2"]
    program = ["-m", "brainedge.train.data"] if moment == "hashing" else ["-c", SLOW_FSYNC]
    command = [sys.executable, *program, *argv]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    if moment == "hashing":
        _wait_for_workers(process)
    else:
        _wait_for_temporary(tmp_path, process)
    assert process.poll() is None, "the split ended before the signal"
    os.killpg(process.pid, sig)  # the whole group, as Ctrl-C in a terminal does
    stdout, stderr = process.communicate(timeout=60)
    assert out.read_bytes() == before
    assert [path.name for path in tmp_path.iterdir() if not path.name.startswith(".")] == ["split.csv"]
    if sig == signal.SIGINT:
        assert (process.returncode, stdout, stderr) == (130, "", "interrupted\n")
        assert not list(tmp_path.glob(".split.csv-*")), "Ctrl-C removes its temporary file"
    else:
        assert process.returncode == -signal.SIGKILL
