"""Every number a user gives is checked for type, finiteness and range before use (errors.check_number):
NaN passes ``x < low``, infinity and huge values pass a lower bound, and each used to end in a traceback,
a hang or a silently disabled feature. One line and exit 2 instead, in every command."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from brainedge.edge_runtime.errors import BrainEdgeError, check_number

TINY = Path(__file__).parent / "data" / "tiny_bundles"
CASES = {
    "classify --interval nan": (
        ["brainedge.edge_runtime", "--bundle", str(TINY / "int8_head"), "--watch", "{tmp}", "--interval", "nan"],
        "--interval must be a number from 0 to 86400, got nan",
    ),
    "classify --interval inf": (
        ["brainedge.edge_runtime", "--bundle", str(TINY / "int8_head"), "--watch", "{tmp}", "--interval", "inf"],
        "--interval must be a number from 0 to 86400, got inf",
    ),
    "bench --timeout nan": (
        [
            "brainedge.benchmarks",
            str(TINY / "int8"),
            "--test-set",
            str(TINY / "images"),
            "--timeout",
            "nan",
            "--out",
            "{tmp}/b",
        ],
        "--timeout must be a number from 1 to 86400, got nan",
    ),
    "bench --timeout 0": (
        [
            "brainedge.benchmarks",
            str(TINY / "int8"),
            "--test-set",
            str(TINY / "images"),
            "--timeout",
            "0",
            "--out",
            "{tmp}/b",
        ],
        "--timeout must be a number from 1 to 86400, got 0.0",
    ),
    "bench --settle huge": (
        [
            "brainedge.benchmarks",
            str(TINY / "int8"),
            "--test-set",
            str(TINY / "images"),
            "--settle",
            "100000",
            "--out",
            "{tmp}/b",
        ],
        "--settle must be a number from 0 to 3600, got 100000",
    ),
    "split --seed -5": (
        ["brainedge.train.data", "split", str(TINY / "images"), "--out", "{tmp}/m.csv", "--seed", "-5"],
        "--seed must be a whole number from 0 to 4294967295, got -5",
    ),
    "export --debug-threshold nan": (
        ["brainedge.export", "{tmp}/no-run", "--debug-threshold", "nan"],
        "--debug-threshold must be a number from -100 to 100, got nan",
    ),
    "train --batch-size huge": (
        ["brainedge.train", "--manifest", "{tmp}/m.csv", "--out", "{tmp}/run", "--batch-size", "99999999999"],
        "--batch-size must be from 1 to 4096, got 99999999999",
    ),
    "train --input-size huge": (
        ["brainedge.train", "--manifest", "{tmp}/m.csv", "--out", "{tmp}/run", "--input-size", "100000"],
        "--input-size must be from 32 to 1024 pixels, got 100000",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_number_out_of_range_is_one_line_before_any_work(case: str, tmp_path: Path) -> None:
    argv, message = CASES[case]
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    done = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == f"error: {message}"
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "a refused command left files behind"


@pytest.mark.parametrize(
    ("value", "low", "high", "whole"),
    [
        (math.nan, 0, 1, False),
        (math.inf, 0, None, False),
        (-math.inf, None, 0, False),
        (2, 0, 1, False),
        (-1, 0, None, False),
        (1.5, 0, 10, True),
        (True, 0, 10, True),
        ("3", 0, 10, False),
        (None, 0, 10, False),
    ],
)
def test_check_number_refuses(value: object, low: float | None, high: float | None, whole: bool) -> None:
    with pytest.raises(BrainEdgeError, match=r"^x must be a (whole )?number"):
        check_number("x", value, low, high, whole)


@pytest.mark.parametrize(("value", "low", "high", "whole"), [(0, 0, 1, False), (1.0, 0, 1, False), (7, 1, None, True)])
def test_check_number_takes_the_ends_of_its_range(value: object, low: float, high: float | None, whole: bool) -> None:
    check_number("x", value, low, high, whole)
