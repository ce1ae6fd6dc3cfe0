"""The committed tiny bundles (tests/data/tiny_bundles) are what tests/make_tiny_bundles.py builds.

The runtime's tests use the committed copy, so they run where TensorFlow cannot be installed
(a Raspberry Pi). Where it can, rebuilding must give the same bytes, file for file: a change to
the script, to export's bundle writer or to the qualifying fit shows up here, not as a fixture
that quietly drifted from what the code makes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from make_tiny_bundles import COMMITTED, can_rebuild, differences, rebuild


@pytest.mark.slow
@pytest.mark.tensorflow
def test_rebuilt_bundles_equal_the_committed_ones(tmp_path: Path) -> None:
    if not can_rebuild():
        pytest.skip("TensorFlow, tf_keras, tf2onnx and ONNX Runtime are needed to rebuild the tiny bundles")
    found = differences(rebuild(tmp_path / "rebuilt"), COMMITTED)
    assert not found, (
        "the rebuilt tiny bundles differ from tests/data/tiny_bundles; if the change is meant, regenerate "
        "them (rm -r tests/data/tiny_bundles; python tests/make_tiny_bundles.py tests/data/tiny_bundles) "
        "and commit the result:\n" + "\n".join(found)
    )


def test_the_comparison_sees_one_changed_byte_and_a_missing_or_extra_file(tmp_path: Path) -> None:
    copy = Path(shutil.copytree(COMMITTED, tmp_path / "copy"))
    assert differences(copy, COMMITTED) == []
    model = copy / "int8_head" / "model.tflite"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 1
    model.write_bytes(bytes(data))
    (copy / "images" / "red" / "0.png").unlink()
    (copy / "float32" / "extra.txt").write_text("x")
    assert differences(copy, COMMITTED) == [
        f"float32/extra.txt: only in {copy}",
        f"images/red/0.png: only in {COMMITTED}",
        "int8_head/model.tflite: bytes differ",
    ]


def test_the_committed_bundles_are_small() -> None:
    """A few hundred KB in the repository, not a model that grew by accident."""
    assert sum(path.stat().st_size for path in COMMITTED.rglob("*") if path.is_file()) < 300_000
