"""One OS-level lock per output folder: a second writer is refused in one line, a dead one blocks nobody.

Each command that writes an output folder holds it with ``output_lock`` (flock, released by the
kernel when its holder dies). The holder here is another process that takes the same lock and
waits; killed with SIGKILL it leaves its lock file (and a pid that names nobody) behind, as a crash
does. brainedge-export's two real exports at once are in tests/test_export.py (TensorFlow, slow).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from data_images import make_dataset

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import LOCK_NAME, check_results_folder, lock_name, output_lock

HOLDER = r"""
import sys
from pathlib import Path
from brainedge.edge_runtime.files import output_lock

with output_lock(Path(sys.argv[1]), sys.argv[2], sys.argv[3]):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes stdin, or kills this process
"""


@contextmanager
def held_by_another_process(folder: Path, command: str, name: str = LOCK_NAME) -> Iterator[subprocess.Popen]:
    """``folder`` locked by a live process for the block; afterwards that process is killed (SIGKILL)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder), command, name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n", "the holder did not take the lock"
        yield holder
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)


def refusal(folder: Path, command: str, pid: int) -> re.Pattern[str]:
    """The one line a second writer gets while ``pid`` holds ``folder``."""
    return re.compile(
        rf"error: {re.escape(str(folder))}: in use by {re.escape(command)} \(pid {pid} on "
        rf"{re.escape(socket.gethostname())} since [0-9T:-]+Z\); wait for it to finish, or choose another --out"
    )


@dataclass(frozen=True)
class Command:
    """One command that writes an output folder, as these tests drive it."""

    name: str
    """How the refusal names the holder."""
    run: Callable[[Path], int]
    """Run it in this process on the output folder; its exit code."""
    folder: Callable[[Path], Path]
    """The folder the lock is in, given the output."""
    lock: Callable[[Path], str]
    """The lock file's name there."""
    output: Callable[[Path], Path]
    """The output to run on, inside tmp_path."""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("locks") / "data", {"a": 6, "b": 6})


@pytest.fixture(scope="module")
def manifest(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from brainedge.train.data.split import make_split

    path = tmp_path_factory.mktemp("manifest") / "split.csv"
    make_split(dataset, path, progress=False)
    return path


def _split(dataset: Path) -> Callable[[Path], int]:
    from brainedge.train.data import cli

    return lambda out: cli.main(["split", str(dataset), "--out", str(out), "--quiet"])


def _audit(dataset: Path) -> Callable[[Path], int]:
    from brainedge.train.data import cli

    return lambda out: cli.main(["audit", str(dataset), "--out", str(out), "--quiet"])


def _bench(bundles: Path) -> Callable[[Path], int]:
    from brainedge.benchmarks import cli

    pytest.importorskip("ai_edge_litert")
    args = [str(bundles / "float32"), "--test-set", str(bundles / "images"), "--runs", "2", "--warmup", "0"]
    return lambda out: cli.main([*args, "--rounds", "2", "--out", str(out)])


def _train(manifest: Path) -> Callable[[Path], int]:
    """A new run on ``manifest``, or ``--resume`` once the folder holds one: neither gets to TensorFlow here,
    as the manifest's images are gone by then (refused after the lock: proof it was passed)."""
    from brainedge.train import cli

    def train(out: Path) -> int:
        resume = ["--resume"] if (out / "config.json").exists() else []
        return cli.main(["--manifest", str(manifest), "--weights", "none", "--out", str(out), *resume])

    return train


def _in(folder: str) -> Callable[[Path], Path]:
    return lambda tmp_path: tmp_path / folder


def _parent(out: Path) -> Path:
    return out.parent


def _same(out: Path) -> Path:
    return out


def _folder_lock(out: Path) -> str:
    return LOCK_NAME


COMMANDS = {
    "split": lambda request: Command(
        "brainedge-data split",
        _split(request.getfixturevalue("dataset")),
        _parent,
        lock_name,
        _in("split.csv"),
    ),
    "audit": lambda request: Command(
        "brainedge-data audit", _audit(request.getfixturevalue("dataset")), _same, _folder_lock, _in("audit")
    ),
    "bench": lambda request: Command(
        "brainedge-bench", _bench(request.getfixturevalue("bundles")), _same, _folder_lock, _in("bench")
    ),
}


@pytest.fixture(params=sorted(COMMANDS))
def command(request: pytest.FixtureRequest) -> Command:
    return COMMANDS[request.param](request)


def _snapshot(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (or ``path`` itself) by name, with its bytes; the holder's lock file aside."""
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file() and p.name != LOCK_NAME
    }


def test_a_second_writer_is_refused_in_one_line_and_the_first_ones_output_is_intact(
    command: Command, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = command.output(tmp_path)
    assert command.run(out) == 0  # an earlier output of this command, which a second writer must not touch
    folder = command.folder(out)
    before = _snapshot(out)
    capsys.readouterr()
    with held_by_another_process(folder, command.name, command.lock(out)) as holder:
        assert command.run(out) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and refusal(folder, command.name, holder.pid).fullmatch(err.strip()), err
        assert _snapshot(out) == before
    assert _snapshot(out) == before


def test_a_lock_left_by_a_dead_process_or_naming_a_reused_pid_blocks_nobody(
    command: Command, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = command.output(tmp_path)
    folder = command.folder(out)
    lock = folder / command.lock(out)
    with held_by_another_process(folder, command.name, command.lock(out)):
        pass  # killed with SIGKILL while holding it: its lock file stays, naming a pid that is gone
    assert lock.exists(), "the killed holder's lock file is what this test is about"
    assert command.run(out) == 0, capsys.readouterr().err
    assert not lock.exists(), "the lock file outlived the command that held it"
    # a crashed writer's pid, since reused by a live process on this host (here: this test's own)
    lock.write_text(f"{command.name} (pid {os.getpid()} on {socket.gethostname()} since 2026-01-01T00:00:00Z)\n")
    assert command.run(out) == 0, capsys.readouterr().err  # its earlier output replaced, not refused


def test_training_refuses_a_second_trainer_and_resumes_past_a_crashed_ones_lock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from brainedge.train.config import ModelConfig, TrainConfig
    from brainedge.train.data.split import make_split
    from brainedge.train.run_dir import RunDirectory

    manifest = tmp_path / "split.csv"
    make_split(make_dataset(tmp_path / "data", {"a": 3, "b": 3}), manifest, progress=False)
    shutil.rmtree(tmp_path / "data")  # the images gone: training stops right after the lock, before TensorFlow
    train = _train(manifest)
    run = RunDirectory(tmp_path / "run")
    config = TrainConfig(model=ModelConfig(num_classes=2, input_size=32, alpha=0.35, weights="none"))
    for resume in (False, True):
        if resume:
            run.write_config({"train": config.to_dict(), "manifest": str(manifest)})
        with held_by_another_process(run.path, "brainedge-train") as holder:
            assert train(run.path) == 2
            err = capsys.readouterr().err
            assert len(err.splitlines()) == 1 and refusal(run.path, "brainedge-train", holder.pid).fullmatch(
                err.strip()
            ), err
        assert run.lock_path.exists()  # the killed trainer's
        assert train(run.path) == 2
        err = capsys.readouterr().err
        assert "in use" not in err and "images are not under" in err, err  # past the lock, refused for the images
        assert not run.lock_path.exists()
        run.lock_path.write_text(f"brainedge-train (pid {os.getpid()} on {socket.gethostname()} since then)\n")
        assert train(run.path) == 2
        assert "images are not under" in capsys.readouterr().err  # a reused pid: not "in use" either


def test_the_lock_file_is_neither_output_nor_a_stranger(tmp_path: Path) -> None:
    """An output folder holding only another writer's lock is new (not foreign, not finished); the lock
    file is refused where a FIFO or a link stands in its place; a folder the lock made is removed."""
    folder = tmp_path / "results"
    with output_lock(folder, "brainedge-bench"):
        assert sorted(os.listdir(folder)) == [LOCK_NAME]
        check_results_folder(folder, ["results.json"], "results.json", lambda start: True)  # not "other files"
    assert not folder.exists(), "a folder the lock created and nothing filled was left behind"
    folder.mkdir()
    os.mkfifo(folder / LOCK_NAME)
    with pytest.raises(BrainEdgeError, match="a FIFO where the lock file goes"):
        with output_lock(folder, "brainedge-bench"):
            pass
    (folder / LOCK_NAME).unlink()
    (folder / LOCK_NAME).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(BrainEdgeError, match="cannot open the lock file"):
        with output_lock(folder, "brainedge-bench"):
            pass
    assert not (tmp_path / "elsewhere").exists()
