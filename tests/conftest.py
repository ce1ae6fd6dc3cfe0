"""Fixtures shared by several test modules, and the markers that say what a test costs."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest
from make_tiny_bundles import COMMITTED


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
