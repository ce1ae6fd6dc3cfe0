"""Fixtures shared by several test modules, and the markers that say what a test costs."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from make_tiny_bundles import COMMITTED
from quiet_python import run_python

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """Tests press Ctrl-C (SIGINT) on the commands they start. Run as a background job (``pytest &``,
    nohup) pytest ignores SIGINT and its children would inherit the ignore and never see it; a
    handled signal is reset to its default in a child, so handle it here."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed tiny bundles and images (tests/make_tiny_bundles.py), copied once per session.

    Committed, so the runtime's tests need no TensorFlow; copied, so a test that edits a bundle
    cannot change the checkout.
    """
    return Path(shutil.copytree(COMMITTED, tmp_path_factory.getbasetemp() / "tiny_bundles"))


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny training run (tests/make_export_run.py, with TensorFlow in a subprocess), built once per
    session for export's tests and the studies that read an export."""
    work = tmp_path_factory.mktemp("export_run")
    done = run_python(str(ROOT / "tests" / "make_export_run.py"), str(work))
    assert done.returncode == 0, done.stderr[-3000:]
    return work / "run"


@pytest.fixture(scope="session")
def exported(run_dir: Path) -> tuple[Path, subprocess.CompletedProcess]:
    """Every variant of ``run_dir``, with the per-layer debug report forced on (threshold far below any loss)."""
    out = run_dir.parent / "bundles"
    done = run_python(
        "-m", "brainedge.export", str(run_dir), "--out", str(out), "--variants", "all",
        "--representative", "32", "--debug-threshold", "-100",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return out, done
