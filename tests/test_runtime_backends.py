"""Every interpreter installable here gives the same top-1 for the same model.

- LiteRT vs tf.lite: the shared reference model and the tiny bundles (tf.lite runs in a
  subprocess that imports TensorFlow by asking for ``--backend tensorflow``).
- TFLite vs ONNX Runtime: one tiny model exported both ways (the committed float32 and
  onnx_float32 tiny bundles).
(LiteRT vs tflite-runtime, which needs numpy < 2, is in test_runtime_tflite_runtime.py.)
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from brainedge.edge_runtime.backends import available_backends, load_backend
from brainedge.edge_runtime.engine import Engine
from brainedge.edge_runtime.errors import BrainEdgeError

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference-models"
REFERENCE_MODEL = [
    "--model",
    str(REFERENCE / "mobilenet_v2_1.0_224_quant.tflite"),
    "--labels",
    str(REFERENCE / "imagenet_labels.txt"),
]


def reference_images() -> list[Path]:
    """The shared natural images, or [] when ../shared is absent."""
    folder = REFERENCE / "images"
    return sorted(p for p in folder.iterdir() if p.suffix in (".bmp", ".jpg")) if folder.is_dir() else []


def top1_in_process(classifier: Engine, images: list[Path]) -> dict[str, str]:
    return {str(path): classifier.classify(path, top_k=1).label for path in images}


def top1_by_cli(args: list[str], images: list[Path]) -> dict[str, str]:
    """`python -m brainedge.edge_runtime ARGS --json IMAGES` in a fresh process → {path: label}."""
    done = subprocess.run(
        [sys.executable, "-m", "brainedge.edge_runtime", *args, "--json", *map(str, images)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return {record["source"]: record["label"] for record in map(json.loads, done.stdout.splitlines())}


def skip_without_tensorflow() -> None:
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("TensorFlow is not installed: no tf.lite to compare with")


@pytest.fixture(scope="module")
def exported_twice(bundles: Path) -> Path:
    pytest.importorskip("onnxruntime", reason="ONNX Runtime is not installed (pip install 'brainedge[onnx]')")
    return bundles


@pytest.mark.tensorflow
def test_litert_and_tf_lite_agree_on_the_reference_model() -> None:
    images = reference_images()
    if not images:
        pytest.skip(f"{REFERENCE} is absent: the reference model and images live in ../shared")
    skip_without_tensorflow()
    litert = top1_in_process(Engine.from_model(REFERENCE_MODEL[1], REFERENCE_MODEL[3], backend="litert"), images)
    assert top1_by_cli([*REFERENCE_MODEL, "--backend", "tensorflow"], images) == litert
    assert litert[str(REFERENCE / "images" / "parrot.jpg")] == "macaw"


@pytest.mark.tensorflow
@pytest.mark.parametrize("variant", ["float32", "int8"])
def test_litert_and_tf_lite_agree_on_a_bundle(bundles: Path, variant: str) -> None:
    skip_without_tensorflow()
    images = sorted((bundles / "images").rglob("*.png")) + reference_images()
    litert = top1_in_process(Engine.from_bundle(bundles / variant, backend="litert"), images)
    assert top1_by_cli(["--bundle", str(bundles / variant), "--backend", "tensorflow"], images) == litert


def test_tflite_and_onnx_exports_of_one_model_agree(exported_twice: Path) -> None:
    images = sorted((exported_twice / "images").rglob("*.png")) + reference_images()
    tflite = Engine.from_bundle(exported_twice / "float32", backend="litert")
    onnx = Engine.from_bundle(exported_twice / "onnx_float32")
    assert onnx.backend.name == "onnxruntime"  # picked from the .onnx model file
    for path in images:
        batch = tflite.preprocess(path)
        from_tflite, from_onnx = tflite.probabilities(batch)[0], onnx.probabilities(batch)[0]
        assert from_tflite.argmax() == from_onnx.argmax(), path
        np.testing.assert_allclose(from_tflite, from_onnx, atol=1e-4, err_msg=str(path))
    for path in sorted((exported_twice / "images").rglob("*.png")):
        assert onnx.classify(path).label == path.parent.name


def test_onnx_bundle_through_the_cli(exported_twice: Path) -> None:
    images = sorted((exported_twice / "images").rglob("*.png"))
    answers = top1_by_cli(["--bundle", str(exported_twice / "onnx_float32"), "--threads", "1"], images)
    assert answers == {str(path): path.parent.name for path in images}


def test_auto_takes_tf_lite_only_when_tensorflow_is_already_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    assert "tensorflow" not in available_backends()
    assert "tensorflow" not in sys.modules  # asking did not import it
    monkeypatch.setitem(sys.modules, "tensorflow", types.ModuleType("tensorflow"))
    assert "tensorflow" in available_backends()
    assert available_backends()[0] == "litert"  # still preferred when both are there


def test_a_model_refuses_a_backend_for_another_format(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(b"x")
    (tmp_path / "m.pt").write_bytes(b"x")
    with pytest.raises(BrainEdgeError, match="backend 'litert' cannot run a .onnx model"):
        load_backend(tmp_path / "m.onnx", "litert")
    with pytest.raises(BrainEdgeError, match="unknown model type"):
        load_backend(tmp_path / "m.pt")


def test_a_corrupt_onnx_model_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="ONNX Runtime is not installed (pip install 'brainedge[onnx]')")
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(BrainEdgeError, match="not a loadable ONNX model"):
        load_backend(tmp_path / "m.onnx")


@pytest.mark.parametrize(
    "machine, vnni, expected",
    [("x86_64", False, True), ("x86_64", True, False), ("AMD64", False, True), ("aarch64", False, False)],
)
def test_onnx_exact_int8_kernels_only_where_int8_saturates(
    monkeypatch: pytest.MonkeyPatch, machine: str, vnni: bool, expected: bool
) -> None:
    """x86 without VNNI needs ORT's exact kernels; elsewhere they would only cost time."""
    import platform

    from numpy._core._multiarray_umath import __cpu_features__ as features

    from brainedge.edge_runtime.backends import int8_kernels_saturate

    monkeypatch.setattr(platform, "machine", lambda: machine)
    monkeypatch.setitem(features, "AVX512VNNI", vnni)
    monkeypatch.setitem(features, "AVX512_CLX", vnni)
    assert int8_kernels_saturate() is expected
