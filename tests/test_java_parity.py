"""The Android app's Java preprocessing and postprocessing match the Python runtime.

Two halves: the checked-in golden files must be exactly what the Python runtime produces
today (so they cannot drift from it), and brainedge-core's JUnit tests must reproduce them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAKE_GOLDEN = ROOT / "android_demo/tools/make_golden.py"
RUN_TESTS = ROOT / "android_demo/brainedge-core/run-tests.sh"
JUNIT_JARS = (Path("/usr/share/java/junit4.jar"), Path("/usr/share/java/hamcrest-core.jar"))


def test_goldens_match_the_python_runtime() -> None:
    result = subprocess.run([sys.executable, str(MAKE_GOLDEN), "--check"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, f"goldens drifted; rerun {MAKE_GOLDEN.relative_to(ROOT)}\n{result.stderr}"


def test_golden_check_notices_a_changed_tensor(tmp_path: Path) -> None:
    golden = tmp_path / "golden"
    shutil.copytree(MAKE_GOLDEN.parents[1] / "brainedge-core/src/test/resources/golden", golden)
    tensor = golden / "tensors/uint8_google/gray_50x41.bin"
    data = bytearray(tensor.read_bytes())
    data[100] ^= 1
    tensor.write_bytes(bytes(data))
    result = subprocess.run([sys.executable, str(MAKE_GOLDEN), "--check", "--out", str(golden)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "tensors/uint8_google/gray_50x41.bin" in result.stderr


def test_java_core_reproduces_the_goldens() -> None:
    missing = [tool for tool in ("javac", "java") if shutil.which(tool) is None]
    missing += [str(jar) for jar in JUNIT_JARS if not jar.is_file()]
    if missing:
        pytest.skip(f"needs a JDK and JUnit 4 (apt-get install default-jdk-headless junit4); missing: "
                    f"{', '.join(missing)}")
    result = subprocess.run(["bash", str(RUN_TESTS)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"JUnit failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    assert "OK (" in result.stdout
