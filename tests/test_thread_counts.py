"""An interpreter thread count is range-checked in one place (backends.check_threads) before any thread
starts: 0, negative and huge counts are one line and exit 2 in every command that takes --threads, and in
the Python API. (A count of 100,000 once started native threads until the whole machine had none left.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from brainedge.edge_runtime.backends import MAX_THREADS, check_threads
from brainedge.edge_runtime.classifier import ClassifierOptions
from brainedge.edge_runtime.errors import BrainEdgeError

TINY = Path(__file__).parent / "data" / "tiny_bundles"
COMMANDS = {
    "classify": ["brainedge.edge_runtime", "--bundle", str(TINY / "int8_head"), str(TINY / "images"), "--threads"],
    "serve": ["brainedge.edge_runtime.serve", "--bundle", str(TINY / "int8_head"), "--threads"],
    "bench": ["brainedge.benchmarks", str(TINY / "int8"), "--test-set", str(TINY / "images"), "--threads", "1"],
}


@pytest.mark.parametrize("count", [0, -3, MAX_THREADS + 1, 100_000])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_thread_count_out_of_range_is_one_line(command: str, count: int, tmp_path: Path) -> None:
    argv = [*COMMANDS[command], str(count)]
    if command == "bench":
        argv += ["--out", str(tmp_path / "bench")]
    done = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [
        f"error: --threads must be a whole number from 1 to {MAX_THREADS}, got {count}"
    ]
    assert not (tmp_path / "bench").exists()


@pytest.mark.parametrize("count", [0, -1, MAX_THREADS + 1, 10**9])
def test_the_python_api_refuses_the_same_counts(count: int) -> None:
    with pytest.raises(BrainEdgeError, match=f"threads must be a whole number from 1 to {MAX_THREADS}, got {count}"):
        ClassifierOptions(threads=count)


@pytest.mark.parametrize("count", [None, 1, 2, MAX_THREADS])
def test_counts_in_range_pass(count: int | None) -> None:
    check_threads(count)
    assert ClassifierOptions(threads=count).threads == count
