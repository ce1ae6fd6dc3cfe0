"""Fixtures shared by several test modules."""

from __future__ import annotations

from pathlib import Path

import pytest
from make_tiny_bundles import tensorflow_available, tiny_bundles


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny float32 and int8 TFLite bundles plus images, built once per session."""
    if not tensorflow_available():
        pytest.skip("TensorFlow and tf_keras are needed to build the tiny test bundles")
    return tiny_bundles(tmp_path_factory.getbasetemp() / "tiny_bundles")
