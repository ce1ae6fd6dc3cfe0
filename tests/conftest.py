"""Fixtures shared by several test modules, and the markers that say what a test costs."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from make_tiny_bundles import tensorflow_available, tiny_bundles


def pytest_configure(config: pytest.Config) -> None:
    """Tests press Ctrl-C (SIGINT) on the commands they start. Run as a background job (``pytest &``,
    nohup) pytest ignores SIGINT and its children would inherit the ignore and never see it; a
    handled signal is reset to its default in a child, so handle it here."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test on the tiny bundles needs TensorFlow to build them (once, in a subprocess)."""
    for item in items:
        if "bundles" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.tensorflow)


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny float32 and int8 TFLite bundles plus images, built once per session."""
    if not tensorflow_available():
        pytest.skip("TensorFlow and tf_keras are needed to build the tiny test bundles")
    return tiny_bundles(tmp_path_factory.getbasetemp() / "tiny_bundles")
