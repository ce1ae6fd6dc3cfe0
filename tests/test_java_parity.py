"""The Android app's Java preprocessing and postprocessing match the Python runtime.

Two halves: the checked-in golden files must be exactly what the Python runtime produces
today (so they cannot drift from it), and brainedge-core's JUnit tests must reproduce them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.system]

ROOT = Path(__file__).resolve().parents[1]
MAKE_GOLDEN = ROOT / "android_demo/tools/make_golden.py"
RUN_TESTS = ROOT / "android_demo/brainedge-core/run-tests.sh"
BUNDLE_INTO_APP = ROOT / "android_demo/tools/bundle_into_app.py"
JUNIT_JARS = (Path("/usr/share/java/junit4.jar"), Path("/usr/share/java/hamcrest-core.jar"))


def test_goldens_match_the_python_runtime() -> None:
    result = subprocess.run([sys.executable, str(MAKE_GOLDEN), "--check"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"goldens drifted; rerun {MAKE_GOLDEN.relative_to(ROOT)}\n{result.stderr}"


def test_golden_check_notices_a_changed_tensor(tmp_path: Path) -> None:
    golden = tmp_path / "golden"
    shutil.copytree(MAKE_GOLDEN.parents[1] / "brainedge-core/src/test/resources/golden", golden)
    tensor = golden / "tensors/uint8_google/gray_50x41.bin"
    data = bytearray(tensor.read_bytes())
    data[100] ^= 1
    tensor.write_bytes(bytes(data))
    result = subprocess.run(
        [sys.executable, str(MAKE_GOLDEN), "--check", "--out", str(golden)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "tensors/uint8_google/gray_50x41.bin" in result.stderr


def test_golden_check_notices_a_changed_head_file(tmp_path: Path) -> None:
    golden = tmp_path / "golden"
    shutil.copytree(MAKE_GOLDEN.parents[1] / "brainedge-core/src/test/resources/golden", golden)
    head = golden / "heads/single.safetensors"
    data = bytearray(head.read_bytes())
    data[-1] ^= 1
    head.write_bytes(bytes(data))
    result = subprocess.run(
        [sys.executable, str(MAKE_GOLDEN), "--check", "--out", str(golden)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "heads/single.safetensors" in result.stderr


def test_golden_check_notices_a_changed_class_map(tmp_path: Path) -> None:
    """Class maps are compared within 1e-9, not byte for byte: a change of 1e-4 must still be caught."""
    import numpy as np

    golden = tmp_path / "golden"
    shutil.copytree(MAKE_GOLDEN.parents[1] / "brainedge-core/src/test/resources/golden", golden)
    path = golden / "explain/head_plain_mosaic.class0.map.bin"
    values = np.fromfile(path, "<f8")
    values[1] -= 1e-4
    path.write_bytes(values.astype("<f8").tobytes())
    result = subprocess.run(
        [sys.executable, str(MAKE_GOLDEN), "--check", "--out", str(golden)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "explain/head_plain_mosaic.class0.map.bin" in result.stderr


def test_the_class_map_goldens_cover_every_one_layer_head_case_and_refuse_hidden_layers() -> None:
    """ClassMapGoldenTest holds the Java core to these: each head case of a one-layer head has its top
    class's map and another class's, the overlay is Python's, and a hidden-layer head is refused."""
    cases = json.loads((MAKE_GOLDEN.parents[1] / "brainedge-core/src/test/resources/golden/cases.json").read_text())
    explain = cases["explain"]
    one_layer = {case["name"] for case in cases["head"] if "hidden_relu" not in case["head"]}
    drawn: dict[str, list[bool]] = {}
    for case in explain["maps"]:
        drawn.setdefault(case["name"], []).append(case["top"])
        assert case["tolerance"] == 1e-5 and case["upsampled_shape"] == [13, 9], case
    assert one_layer and one_layer <= drawn.keys()
    assert not {name for name in drawn if "hidden" in name or name.startswith(("head_float32", "head_int8"))}
    assert all(tops.count(True) == 1 and len(tops) >= 2 for tops in drawn.values()), drawn
    assert [overlay["overlay"].endswith(".png") for overlay in explain["overlays"]] == [True]
    messages = [refusal["message"] for refusal in cases["refusals"]["class_maps"]]
    assert "class-activation maps need a head of one dense layer; this bundle's has 2" in messages


def test_the_apps_verdict_phrases_are_the_runtimes() -> None:
    """MainActivity shows these string resources; brainedge-core's Prediction holds the same (HeadGoldenTest)."""
    from xml.etree import ElementTree

    from brainedge.edge_runtime.classifier import NOT_RECOGNISED, UNCERTAIN

    strings = ElementTree.parse(ROOT / "android_demo/app/src/main/res/values/strings.xml").getroot()
    values = {item.get("name"): item.text for item in strings.iter("string")}
    assert values["uncertain"] == UNCERTAIN
    assert values["not_recognised"] == NOT_RECOGNISED


def test_bundle_into_app_copies_the_head_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A schema 2 bundle's model cannot answer without its head file: it travels with the bundle."""
    import importlib.util

    import numpy as np

    from brainedge.edge_runtime.bundle import Bundle
    from brainedge.edge_runtime.metadata import BundleMetadata, DenseLayer, HeadSpec, InputSpec, OutputSpec
    from brainedge.edge_runtime.tensors import tensors_to_bytes

    spec = importlib.util.spec_from_file_location("bundle_into_app", BUNDLE_INTO_APP)
    bundle_into_app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bundle_into_app)
    metadata = BundleMetadata(
        model_file="model.tflite",
        model_format="tflite",
        variant="tflite_int8_ptq",
        model_sha256="",
        class_names=["a", "b"],
        input=InputSpec(height=8, width=8),
        output=OutputSpec(num_classes=2),
    )
    bundle = Bundle.write(tmp_path / "head_bundle", b"model", metadata)
    head_bytes = tensors_to_bytes({"k": np.eye(2, dtype=np.float32), "b": np.zeros(2, np.float32)})
    bundle = bundle.with_head(HeadSpec("head.safetensors", "", (1, 1, 2), (DenseLayer("k", "b"),)), head_bytes)
    monkeypatch.setattr(bundle_into_app, "validate", lambda directory: bundle)
    assets = tmp_path / "assets"
    assert bundle_into_app.main([str(bundle.directory), "--assets", str(assets)]) == 0
    copied = sorted(path.name for path in (assets / "bundle").iterdir())
    assert copied == sorted(path.name for path in bundle.files)
    assert (assets / "bundle/head.safetensors").read_bytes() == head_bytes


def test_java_core_reproduces_the_goldens(tmp_path: Path) -> None:
    missing = [tool for tool in ("javac", "java") if shutil.which(tool) is None]
    missing += [str(jar) for jar in JUNIT_JARS if not jar.is_file()]
    if missing:
        pytest.skip(
            f"needs a JDK and JUnit 4 (apt-get install default-jdk-headless junit4); missing: {', '.join(missing)}"
        )
    sample = tmp_path / "phone-benchmark.json"
    env = {**os.environ, "BRAINEDGE_BENCH_SAMPLE_OUT": str(sample)}
    result = subprocess.run(["bash", str(RUN_TESTS)], capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, f"JUnit failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    assert "OK (" in result.stdout
    # The app's benchmark JSON must be a valid brainedge-bench result that merges with others.
    from brainedge.benchmarks.merge import merge_results
    from brainedge.benchmarks.schema import validate

    phone = json.loads(sample.read_text())
    validate(phone, str(sample))
    validate(merge_results([phone, phone]), "merged")
    _phone_result_renders_fully(phone)


DESKTOP_RESULT = ROOT / "benchmarks/results/mri_224/results.json"


def _phone_result_renders_fully(phone: dict) -> None:
    """The document the app writes (BenchmarkResultTest builds it with the app's own helpers) shows
    every device field, its LiteRT version and its test set in a `brainedge-bench --merge` report."""
    from brainedge.benchmarks.merge import merge_results
    from brainedge.benchmarks.report import render_markdown

    assert phone["device"]["packages"]["litert-android"] == "1.4.1"
    assert phone["runs"][0]["test_set"]["per_class"] == {"glioma": 2, "meningioma": 1, "notumor": 1}
    desktop = json.loads(DESKTOP_RESULT.read_text())
    report = render_markdown(merge_results([desktop, phone]), [])
    tables = report.split("## Method")[0]
    phone_line = next(line for line in tables.splitlines() if line.startswith("| android-Pixel-8"))
    assert "None" not in phone_line, phone_line
    assert "1.4.1 (Android)" in phone_line and "Tensor G3" in phone_line and "Android 14 (API 34)" in phone_line
    assert "`app assets/samples`, 4 images (glioma: 2, meningioma: 1, notumor: 1)" in report
    desktop_litert = desktop["runs"][0]["device"]["packages"]["ai-edge-litert"]
    assert f"| {desktop_litert} |" in tables
    assert "None" not in tables


SHARED_MODELS = ROOT.parent / "shared/reference-models"


def _reference_bundle(tmp_path: Path) -> Path:
    """Google's uint8 MobileNetV2 from ../shared as a bundle, metadata read from the model itself."""
    from brainedge.edge_runtime.backends import load_backend
    from brainedge.edge_runtime.bundle import Bundle
    from brainedge.edge_runtime.metadata import BundleMetadata, InputSpec, OutputSpec, read_labels

    model = SHARED_MODELS / "mobilenet_v2_1.0_224_quant.tflite"
    if not model.is_file():
        pytest.skip(f"{model} absent (the reference model lives in ../shared, which users do not have)")
    pytest.importorskip("ai_edge_litert")
    names = read_labels(SHARED_MODELS / "imagenet_labels.txt")
    backend = load_backend(model)
    _, height, width, _ = backend.input.shape
    metadata = BundleMetadata(
        model_file="model.tflite",
        model_format="tflite",
        variant="uint8-reference",
        model_sha256="",
        class_names=names,
        input=InputSpec(height, width, dtype=backend.input.dtype, quantization=backend.input.quantization),
        output=OutputSpec(len(names), dtype=backend.output.dtype, quantization=backend.output.quantization),
    )
    return Bundle.write(tmp_path / "imagenet_uint8", model.read_bytes(), metadata).directory


def test_bundle_into_app_copies_a_valid_bundle_and_samples(tmp_path: Path) -> None:
    bundle = _reference_bundle(tmp_path)
    samples = tmp_path / "samples"
    (samples / "macaw").mkdir(parents=True)
    shutil.copy(SHARED_MODELS / "images/parrot.jpg", samples / "macaw/parrot.jpg")
    assets = tmp_path / "assets"
    result = subprocess.run(
        [sys.executable, str(BUNDLE_INTO_APP), str(bundle), "--samples", str(samples), "--assets", str(assets)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for name in ("model.tflite", "labels.txt", "metadata.json"):
        assert (assets / "bundle" / name).read_bytes() == (bundle / name).read_bytes()
    assert (assets / "samples/macaw/parrot.jpg").is_file()
    assert '"imagenet_uint8"' in (assets / "bundle_info.json").read_text()


def test_bundle_into_app_refuses_a_tampered_model(tmp_path: Path) -> None:
    bundle = _reference_bundle(tmp_path)
    with (bundle / "model.tflite").open("ab") as model:
        model.write(b"\0")
    assets = tmp_path / "assets"
    result = subprocess.run(
        [sys.executable, str(BUNDLE_INTO_APP), str(bundle), "--assets", str(assets)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "sha256" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (assets / "bundle").exists()


def test_the_refusal_goldens_cover_each_schema_2_part_and_each_non_finite_value() -> None:
    """RefusalGoldenTest holds the Java core to these messages: each case the Python runtime refuses is there."""
    cases = json.loads((MAKE_GOLDEN.parents[1] / "brainedge-core/src/test/resources/golden/cases.json").read_text())
    refusals = cases["refusals"]
    metadata = {case["name"]: case["message"] for case in refusals["metadata"]}
    for key in ("head", "calibration", "out_of_distribution", "referral"):
        assert metadata[f"schema_1_{key}"] == f"metadata.json: {key}: needs schema_version 2, found 1"
    assert metadata["schema_1_null_parts"] is None
    for kind in ("heads", "outputs"):
        assert {case["value"] for case in refusals[kind]} == {"NaN", "Infinity", "-Infinity"}, kind
    for case in refusals["heads"]:
        assert case["message"] == (
            f"head.safetensors: tensor {case['tensor']!r} has non-finite values (NaN or infinity)"
        ), case
    assert {case["head"] is None for case in refusals["outputs"]} == {True, False}
    assert {case["message"] for case in refusals["outputs"]} == {cases["phrases"]["not_finite"]}
