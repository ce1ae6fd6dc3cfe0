"""brainedge-export end to end on a tiny run: every format, its metadata, its checks, its errors.

TensorFlow runs only in subprocesses (the run builder and the export CLI); this process
reads the bundles the way a device would, through the edge runtime.
"""

from __future__ import annotations

import io
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import flatbuffers
import numpy as np
import pytest
from flatbuffers.table import Table
from quiet_python import run_python

from brainedge.edge_runtime.bundle import Bundle, find_bundles
from brainedge.edge_runtime.classifier import Classifier
from brainedge.edge_runtime.engine import Engine
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import LOCK_NAME
from brainedge.edge_runtime.manifest import read_manifest
from brainedge.edge_runtime.metadata import read_labels
from brainedge.edge_runtime.metrics import wilson_interval
from brainedge.edge_runtime.preprocess import decode_rgb
from brainedge.edge_runtime.variants import VARIANT_NAMES
from brainedge.edge_runtime.variants import VARIANTS as EXPORT_VARIANTS
from brainedge.export.settings import DEFAULTS

pytestmark = [pytest.mark.slow, pytest.mark.tensorflow]

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = VARIANT_NAMES
INT8 = tuple(f.name for f in EXPORT_VARIANTS if f.full_integer)

pytest.importorskip("onnxruntime")


def _val_images(run_dir: Path) -> list[np.ndarray]:
    config = json.loads((run_dir / "config.json").read_text())
    return [decode_rgb(path) for path, _ in read_manifest(Path(config["manifest"])).files("val")]


def _probabilities(bundle: Path, images: list[np.ndarray]) -> np.ndarray:
    engine = Engine.from_bundle(bundle)
    return np.concatenate([engine.probabilities(engine.preprocess(image)) for image in images])


def test_every_format_is_a_verified_bundle(exported: tuple[Path, subprocess.CompletedProcess]) -> None:
    out, done = exported
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(VARIANTS)
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "staging directories left behind"
    for name in VARIANTS:
        Classifier.from_bundle(out / name)  # loads, and its sha256 matches the final model file
        metadata = Bundle.open(out / name).metadata
        assert metadata.variant == name
        check = metadata.verification
        assert check["split"] == "val" and check["count"] > 20
        assert check["decided_agreement"] >= DEFAULTS.min_agreement, (name, check)
        assert name in done.stdout  # the table
    report = json.loads((out / "export_report.json").read_text())
    assert [row["variant"] for row in report] == list(VARIANTS) and all(row["passed"] for row in report)


def test_bundles_agree_with_each_other_through_the_runtime(
    run_dir: Path, exported: tuple[Path, subprocess.CompletedProcess]
) -> None:
    """Independent of export's own check: every variant against the float32 TFLite bundle."""
    out, _ = exported
    images = _val_images(run_dir)
    reference = _probabilities(out / "tflite_float32", images)
    assert np.abs(_probabilities(out / "onnx_float32", images) - reference).max() < 1e-4
    for name in VARIANTS:
        if name == "tflite_int8_qat":  # its reference is the QAT Keras model, checked by export
            continue
        agreement = (_probabilities(out / name, images).argmax(1) == reference.argmax(1)).mean()
        assert agreement >= DEFAULTS.min_agreement, (name, agreement)


NO_VNNI_SCRIPT = r"""
import json, sys
from pathlib import Path
import numpy as np
from brainedge.edge_runtime.engine import Engine
from brainedge.edge_runtime.errors import BrainEdgeError
engine = Engine.from_bundle(Path(sys.argv[1]))
inputs = np.load(sys.argv[2])
print(json.dumps([engine.probabilities(row[None]).tolist() for row in inputs]))
"""


@pytest.mark.skipif(
    platform.machine() != "x86_64" or not shutil.which("qemu-x86_64-static"),
    reason="needs an x86_64 host and qemu-user-static (Debian package) to emulate a CPU without VNNI",
)
def test_onnx_int8_answers_the_same_on_a_cpu_without_vnni(
    run_dir: Path, exported: tuple[Path, subprocess.CompletedProcess], tmp_path: Path
) -> None:
    """Haswell-class CPUs (AVX2, no VNNI) saturate ONNX Runtime's default int8 kernels: without the
    runtime's precise mode this bundle's answers flip there (seen in CI: agreement 0.89)."""
    bundle = exported[0] / "onnx_int8"
    engine = Engine.from_bundle(bundle)
    inputs = np.concatenate([engine.preprocess(image) for image in _val_images(run_dir)])
    np.save(tmp_path / "inputs.npy", inputs)
    native = np.concatenate([engine.probabilities(row[None]) for row in inputs])
    env = dict(os.environ)
    done = subprocess.run(
        [
            "qemu-x86_64-static",
            "-cpu",
            "Haswell",
            sys.executable,
            "-c",
            NO_VNNI_SCRIPT,
            str(bundle),
            str(tmp_path / "inputs.npy"),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    emulated = np.array(json.loads(done.stdout.strip().splitlines()[-1]))[:, 0]
    assert (emulated.argmax(1) == native.argmax(1)).all()
    assert np.abs(emulated - native).max() < 1e-3


def _root(buffer: bytes) -> Table:
    return Table(buffer, flatbuffers.encode.Get(flatbuffers.packer.uoffset, buffer, 0))


def _field(table: Table, slot: int) -> int:
    return table.Offset(4 + 2 * slot)


def _child(table: Table, slot: int) -> Table:
    offset = _field(table, slot)
    assert offset, f"missing field {slot}"
    return Table(table.Bytes, table.Indirect(offset + table.Pos))


def _children(table: Table, slot: int) -> list[Table]:
    offset = _field(table, slot)
    start = table.Vector(offset)
    return [Table(table.Bytes, table.Indirect(start + 4 * i)) for i in range(table.VectorLen(offset))]


def _floats(table: Table, slot: int) -> list[float]:
    offset = _field(table, slot)
    start = table.Vector(offset)
    return [table.Get(flatbuffers.number_types.Float32Flags, start + 4 * i) for i in range(table.VectorLen(offset))]


def _string(table: Table, slot: int) -> str:
    return table.String(_field(table, slot) + table.Pos).decode()


def _byte(table: Table, slot: int) -> int:
    return table.Get(flatbuffers.number_types.Uint8Flags, _field(table, slot) + table.Pos)


def _tflite_metadata(model: bytes) -> bytes:
    from ai_edge_litert.schema_py_generated import Model

    tree = Model.GetRootAs(model, 0)
    for index in range(tree.MetadataLength()):
        if tree.Metadata(index).Name() == b"TFLITE_METADATA":
            return tree.Buffers(tree.Metadata(index).Buffer()).DataAsNumpy().tobytes()
    raise AssertionError("no TFLITE_METADATA buffer")


@pytest.mark.parametrize("name", [f for f in VARIANTS if f.startswith("tflite_")])
def test_tflite_files_carry_labels_and_normalization(
    exported: tuple[Path, subprocess.CompletedProcess], name: str
) -> None:
    """What the LiteRT support library reads: ModelMetadata (M001) and labels.txt zipped in."""
    bundle = exported[0] / name
    metadata = Bundle.open(bundle).metadata
    model = (bundle / metadata.model_file).read_bytes()
    assert zipfile.ZipFile(io.BytesIO(model)).read("labels.txt").decode().split() == read_labels(bundle / "labels.txt")
    buffer = _tflite_metadata(model)
    assert buffer[4:8] == b"M001"
    root = _root(buffer)
    assert _string(root, 7) == "1.0.0"  # min_parser_version
    (subgraph,) = _children(root, 3)
    (image,) = _children(subgraph, 2)
    assert _byte(_child(image, 3), 0) == 2  # ImageProperties
    assert _byte(_child(_child(image, 3), 1), 0) == 1  # RGB
    (normalization,) = _children(image, 4)
    assert _byte(normalization, 0) == 1  # NormalizationOptions
    assert _floats(_child(normalization, 1), 0) == list(metadata.input.mean)
    assert _floats(_child(normalization, 1), 1) == list(metadata.input.std)
    if metadata.input.dtype == "uint8":
        assert _floats(_child(image, 5), 0) == [255.0]
    (output,) = _children(subgraph, 3)
    assert _string(output, 0) == "feature_map"  # the head file, not the model, holds the classifier
    assert _byte(_child(output, 3), 0) == 1  # FeatureProperties


@pytest.mark.parametrize("name", [f for f in VARIANTS if f.startswith("tflite_")])
def test_tflite_files_name_only_their_inputs_outputs_and_signature(
    exported: tuple[Path, subprocess.CompletedProcess], name: str
) -> None:
    """The converter's fused-op tensor names are dropped (size on the device); what callers use stays."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(exported[0] / name / "model.tflite"))
    ends = {detail["index"] for detail in interpreter.get_input_details() + interpreter.get_output_details()}
    names = {detail["index"]: detail["name"] for detail in interpreter.get_tensor_details()}
    assert all(names[index] for index in ends)
    assert len(names) > len(ends) and not any(name for index, name in names.items() if index not in ends)
    (signature,) = interpreter.get_signature_list().values()
    assert signature["inputs"] and signature["outputs"]


def test_onnx_bundles(exported: tuple[Path, subprocess.CompletedProcess]) -> None:
    onnx = pytest.importorskip("onnx")
    out, _ = exported
    sizes = {}
    for name in ("onnx_float32", "onnx_int8"):
        metadata = Bundle.open(out / name).metadata
        assert metadata.model_format == "onnx" and metadata.model_file == "model.onnx"
        assert metadata.input.dtype == "float32" and metadata.input.quantization is None
        sizes[name] = (out / name / "model.onnx").stat().st_size
    graph = onnx.load(str(out / "onnx_int8" / "model.onnx")).graph
    assert graph.input[0].type.tensor_type.shape.dim[3].dim_value == 3  # NHWC kept
    operators = {node.op_type for node in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= operators
    per_channel = [
        node
        for node in graph.node
        if node.op_type == "DequantizeLinear" and any(a.name == "axis" for a in node.attribute)
    ]
    assert per_channel, "weights should be quantized per channel"
    assert sizes["onnx_int8"] < 0.6 * sizes["onnx_float32"]


def test_int8_variants_get_a_per_layer_debug_report(exported: tuple[Path, subprocess.CompletedProcess]) -> None:
    out, done = exported
    assert "worst layers" in done.stdout
    for name in INT8:
        report = json.loads((out / name / "quantization_debug.json").read_text())
        scores = [layer["rmse_over_scale"] for layer in report["layers"]]
        assert len(scores) >= 3 and scores == sorted(scores, reverse=True)
        assert all(np.isfinite(scores)) and scores[0] > 0
        assert (out / name / "quantization_debug.md").read_text().count("\n| `") == len(scores)
    assert not (out / "tflite_float32" / "quantization_debug.json").exists()


BAD_INPUT_SCRIPT = r"""
import contextlib, io, json, shutil, sys, warnings
# python -c in the checkout: pkg_resources (imported by tfmot) warns that brainedge is importable twice
warnings.filterwarnings("ignore", message="Module brainedge was already imported")
from pathlib import Path
import brainedge.export.tflite
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.export.cli import main

run, work = Path(sys.argv[1]), Path(sys.argv[2])
results = {}

def attempt(case, *args, limit="4"):
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = main([*args, "--verify-limit", limit])
    out = Path(args[args.index("--out") + 1])
    left = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    results[case] = {"code": code, "stderr": stderr.getvalue(), "left": left}

no_model = work / "no_model"
no_model.mkdir()
shutil.copy(run / "config.json", no_model / "config.json")
attempt("no_model", str(no_model), "--out", str(work / "out1"))
stopped_in_qat = work / "stopped_in_qat"  # killed during QAT: the float model is saved, the QAT one is not
stopped_in_qat.mkdir()
for name in ("config.json", "model.keras"):
    shutil.copy(run / name, stopped_in_qat / name)
attempt("stopped_in_qat", str(stopped_in_qat), "--out", str(work / "out6"), "--variants", "tflite_int8_qat")
no_qat = work / "no_qat"
no_qat.mkdir()
config = json.loads((run / "config.json").read_text())
config["train"]["qat_epochs"] = 0
(no_qat / "config.json").write_text(json.dumps(config))
shutil.copy(run / "model.keras", no_qat / "model.keras")
attempt("no_qat", str(no_qat), "--out", str(work / "out7"), "--variants", "tflite_int8_qat")
for case, edit in (  # config.json as a hand edit could leave it: read through TrainConfig, each is refused
    ("misspelt_setting", lambda train: train.update(qat_epoch=1)),
    ("ill_typed_setting", lambda train: train["model"].update(alpha="1.0")),
    ("setting_out_of_range", lambda train: train.update(batch_size=0)),
):
    (work / case).mkdir()
    config = json.loads((run / "config.json").read_text())
    edit(config["train"])
    (work / case / "config.json").write_text(json.dumps(config))
    shutil.copy(run / "model.keras", work / case / "model.keras")
    attempt(case, str(work / case), "--out", str(work / f"out_{case}"), "--variants", "tflite_float32")
user_files = work / "out8"  # a folder of the user's: not an export's, nothing of theirs may be replaced
(user_files / "tflite_float32").mkdir(parents=True)
(user_files / "tflite_float32" / "notes.txt").write_text("mine")
attempt("not_a_bundle", str(run), "--out", str(user_files), "--variants", "tflite_float32")
(user_files / "tflite_float32" / "notes.txt").rename(user_files / "notes.txt")
(user_files / "tflite_float32").rmdir()
attempt("other_files", str(run), "--out", str(user_files), "--variants", "tflite_float32")
(user_files / "notes.txt").rename(user_files / "export_report.json")
attempt("foreign_report", str(run), "--out", str(user_files), "--variants", "tflite_float32")
(user_files / "export_report.json").rename(user_files / "notes.txt")
damages = (("damaged_model", "model.keras"), ("empty_config", "config.json"), ("damaged_qat", "qat_model.keras"))
for case, damage in damages:
    copy = work / case
    shutil.copytree(run, copy)
    if damage == "config.json":
        (copy / damage).write_text("{}")
    else:
        (copy / damage).write_bytes((copy / damage).read_bytes()[:1000])  # cut short, as by a full disk
    qat = ["--variants", "tflite_int8_qat", "--representative", "32"]
    variants = qat if damage == "qat_model.keras" else ["--variants", "tflite_float32"]
    attempt(case, str(copy), "--out", str(work / f"out_{case}"), *variants)
attempt("representative", str(run), "--out", str(work / "out2"), "--variants", "tflite_int8_ptq",
        "--representative", "100000")

class Unquantizable:
    def convert(self):
        raise RuntimeError("loc(\"cumsum\"): error: 'tfl.cumsum' op quantization is not supported\nmore detail")

brainedge.export.tflite.converter_for = lambda *args, **kwargs: Unquantizable()
attempt("unquantizable", str(run), "--out", str(work / "out3"), "--variants", "tflite_int8_ptq",
        "--representative", "32")
(work / "a_file").write_text("not a folder")
attempt("out_is_a_file", str(run), "--out", str(work / "a_file"))
attempt("out_under_a_file", str(run), "--out", str(work / "a_file" / "bundles"))
attempt("target_accuracy", str(run), "--out", str(work / "out4"), "--target-accuracy", "99.5")
attempt("ood_rejection", str(run), "--out", str(work / "out5"), "--ood-rejection", "0")
attempt("min_agreement", str(run), "--out", str(work / "out9"), "--min-agreement", "2")
attempt("verify_limit", str(run), "--out", str(work / "out10"), limit="0")
print(json.dumps(results))
"""


def test_bad_input_gives_one_line_and_leaves_no_bundle(run_dir: Path, tmp_path: Path) -> None:
    done = run_python("-c", BAD_INPUT_SCRIPT, str(run_dir), str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    expected = {
        "no_model": "no trained model (model.keras)",
        "damaged_model": "damaged_model/model.keras: damaged (",
        "empty_config": "empty_config/config.json: damaged (no valid train, manifest)",
        "damaged_qat": "damaged_qat/qat_model.keras: damaged (",
        "stopped_in_qat": "quantization-aware training has not finished: brainedge-train --resume --out ",
        "no_qat": "trained with --qat-epochs 0: train with --qat-epochs 1 or more",
        "misspelt_setting": "misspelt_setting/config.json: damaged (train: unknown setting(s) 'qat_epoch' (a typo",
        "ill_typed_setting": "config.json: damaged (train.model.alpha: expected a number, found '1.0')",
        "setting_out_of_range": "config.json: damaged (--batch-size must be from 1 to 4096, got 0)",
        "representative": "100000 representative images requested",
        "unquantizable": "TFLite int8_ptq conversion failed (an op that cannot be quantized?): "
        "'tfl.cumsum' op quantization is not supported",
        "out_is_a_file": "a_file: cannot write there, not a folder",
        "out_under_a_file": "a_file is not a folder",
        "target_accuracy": "--target-accuracy must be more than 0 and at most 1 (e.g. 0.995), got 99.5",
        "ood_rejection": "--ood-rejection must be more than 0 and less than 0.5 (e.g. 0.01), got 0.0",
        "min_agreement": "--min-agreement must be more than 0 and at most 1 (e.g. 0.97), got 2.0",
        "verify_limit": "--verify-limit must be at least 1 (leave it out to verify on every image), got 0",
    }
    users = {
        "not_a_bundle": "out8/tflite_float32: not a bundle (no bundle metadata), which export would replace",
        "other_files": "out8: already holds other files (notes.txt); choose a new or empty --out",
        "foreign_report": "out8/export_report.json: not brainedge-export's report",
    }
    for case, message in {**expected, **users}.items():
        result = results[case]
        assert result["code"] == 2, result
        assert result["stderr"].startswith("error: ") and result["stderr"].count("\n") == 1, result
        assert message in result["stderr"], result
        users_files = {"not_a_bundle": ["tflite_float32"], "other_files": ["notes.txt"]}
        if case == "foreign_report":
            assert result["left"] == ["export_report.json"], result  # the user's, untouched
        else:
            assert [name for name in result["left"] if name != "export_report.json"] == users_files.get(case, []), (
                result
            )
    assert (tmp_path / "out8" / "notes.txt").read_text() == "mine"


def test_evaluate_scores_every_bundle_on_the_test_split(
    run_dir: Path, exported: tuple[Path, subprocess.CompletedProcess], tmp_path: Path
) -> None:
    out, _ = exported
    done = run_python(
        "-m",
        "brainedge.export.evaluate",
        str(run_dir),
        str(out),
        "--split",
        "test",
        "--out",
        str(tmp_path / "test.json"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads((tmp_path / "test.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    manifest = read_manifest(Path(config["manifest"]))
    test_files = manifest.files("test", include_leaked=False)
    assert [row["variant"] for row in rows] == list(VARIANTS)
    assert "McNemar" in done.stdout and f"on {len(test_files)} test images" in done.stdout
    for row in rows:
        assert row["split"] == "test" and row["count"] == len(test_files)
        assert row["leaked_left_out"] == len(manifest.files("test", include_leaked=True)) - len(test_files)
        low, high = row["accuracy_interval"]
        assert low <= row["accuracy"] <= high
        flips = row["float_flips"]  # the accuracy difference is exactly the flips' balance, on the same images
        assert row["accuracy_drop_points"] == pytest.approx(
            100 * (flips["right_to_wrong"] - flips["wrong_to_right"]) / row["count"]
        )
        assert 0 < flips["mcnemar_p"] <= 1
        assert 0 <= row["accuracy"] <= 1 and row["reference"] == (
            "keras_qat" if "qat" in row["variant"] else "keras_float"
        )
        if row["variant"] != "tflite_int8_qat":  # the tiny QAT model has near-ties; its check is on val
            assert row["decided_agreement"] >= DEFAULTS.min_agreement, row


def test_flips_between_near_tied_classes_do_not_fail_verification() -> None:
    """An undertrained model is all ties: quantization may flip them without disagreeing on anything decided."""
    from brainedge.export.verify import compare, passes

    reference = np.array([[0.251, 0.249, 0.25, 0.25], [0.9, 0.05, 0.03, 0.02], [0.26, 0.25, 0.25, 0.24]])
    flipped_ties = np.array([[0.249, 0.251, 0.25, 0.25], [0.9, 0.05, 0.03, 0.02], [0.24, 0.26, 0.25, 0.25]])
    check = compare(flipped_ties, reference, np.array([0, 0, 0]))
    assert check["agreement"] == pytest.approx(1 / 3) and check["decided_count"] == 2
    assert check["decided_agreement"] == 0.5 and not passes(check, 0.97)  # the 0.26-vs-0.25 image was decided
    check = compare(flipped_ties[:2], reference[:2], np.array([0, 0]))
    assert check["decided_agreement"] == 1.0 and passes(check, 0.97)
    wrong = compare(np.array([[0.05, 0.9, 0.03, 0.02]]), reference[1:2], np.array([0]))
    assert wrong["decided_agreement"] == 0.0 and not passes(wrong, 0.97)
    all_ties = compare(flipped_ties[[0]], reference[[0]], np.array([0]))  # a degenerate model decides nothing
    assert all_ties["decided_count"] == 0 and passes(all_ties, 0.97)  # kept, and reported as unverified:


def test_a_bundle_checked_on_nothing_is_reported_unverified(capsys: pytest.CaptureFixture[str]) -> None:
    from brainedge.export.cli import print_table

    row = {"variant": "tflite_int8_ptq", "size_bytes": 1e6, "accuracy": 0.25, "accuracy_drop_points": 0.0,
           "agreement": 0.5, "float_agreement": 0.5, "max_abs_diff": 0.01, "passed": True, "min_agreement": 0.97,
           "count": 20, "decided_count": 0, "split": "val", "float_reference_accuracy": 0.25}  # fmt: skip
    print_table([row])
    assert "UNVERIFIED: the Keras model's top two classes are within 0.01 on every image" in capsys.readouterr().out


def test_verification_counts_the_answers_that_flipped_against_the_float_model() -> None:
    from brainedge.export.verify import verification

    labels = np.array([0, 0, 0, 0, 1, 1])
    float_model = np.eye(2)[[0, 0, 0, 0, 1, 0]]  # right on 5 of 6
    bundle = np.eye(2)[[1, 1, 1, 0, 1, 1]]  # 3 of those turn wrong, the sixth turns right
    check = verification(bundle, {"float": float_model}, "float", labels, "test", 0.97)
    assert check["float_flips"] == {"right_to_wrong": 3, "wrong_to_right": 1, "mcnemar_p": 0.625}  # 2 * 5/16
    assert check["accuracy_drop_points"] == pytest.approx(100 * 2 / 6)
    assert check["accuracy_interval"] == list(wilson_interval(3, 6))
    assert check["float_reference_accuracy_interval"] == list(wilson_interval(5, 6))


PAUSED_EXPORT = r"""
import sys, time
from pathlib import Path
from brainedge.export import exporter
from brainedge.export.cli import main

outputs = exporter.bundle_outputs

def outputs_after_a_pause(bundle, images, calibrated=False):
    marker = Path(sys.argv[-1]).parent / "staged"
    if not marker.exists():
        marker.write_text(str(bundle.directory))  # the bundle is staged, unverified
        time.sleep(60)
    return outputs(bundle, images, calibrated)

exporter.bundle_outputs = outputs_after_a_pause
sys.exit(main(sys.argv[1:]))
"""


HELD_EXPORT = PAUSED_EXPORT.replace(
    "        time.sleep(60)",
    "        while not marker.with_name('go').exists():  # until the test says go\n            time.sleep(0.05)",
)


def _start_export(run_dir: Path, out: Path, script: str = PAUSED_EXPORT) -> subprocess.Popen:
    """An export that stops for a minute right after staging its bundle, so a signal lands there every time."""
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            script,
            str(run_dir),
            "--variants",
            "tflite_int8_ptq",
            "--representative",
            "32",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_staged_bundle(out: Path, process: subprocess.Popen) -> Path:
    deadline = time.monotonic() + 300
    marker = out.parent / "staged"
    while not marker.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the export never staged a bundle"
        time.sleep(0.05)
    return Path(marker.read_text())


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT])
def test_an_interrupted_export_leaves_the_previous_bundle_and_nothing_loadable(
    run_dir: Path, exported: tuple[Path, subprocess.CompletedProcess], tmp_path: Path, stop: signal.Signals
) -> None:
    out = tmp_path / "bundles"
    shutil.copytree(exported[0] / "tflite_int8_ptq", out / "tflite_int8_ptq")
    before = {p.name: p.read_bytes() for p in (out / "tflite_int8_ptq").iterdir()}
    process = _start_export(run_dir, out)
    staged = _wait_for_staged_bundle(out, process)
    process.send_signal(stop)
    _, err = process.communicate(timeout=120)
    assert {p.name: p.read_bytes() for p in (out / "tflite_int8_ptq").iterdir()} == before
    assert find_bundles([out]) == [out / "tflite_int8_ptq"]
    if stop == signal.SIGINT:
        assert process.returncode == 130 and err.strip().splitlines()[-1] == "interrupted", err
        assert "Traceback" not in err and not staged.exists(), "Ctrl-C left the staging folder"
    else:
        assert staged.exists()  # SIGKILL: nothing runs; the folder is hidden, and refused if pointed at
        with pytest.raises(BrainEdgeError, match="interrupted before the bundle was verified"):
            Bundle.open(staged)
        done = run_python("-m", "brainedge.export", str(run_dir), "--out", str(out), "--variants", "tflite_float32")
        assert done.returncode == 0, done.stderr[-2000:]
        assert not staged.exists(), "the next export did not clear the abandoned staging folder"


def test_a_second_export_into_the_same_out_is_refused_and_the_first_finishes_whole(
    run_dir: Path, tmp_path: Path
) -> None:
    """Two exports on one --out: the second is refused in one line before it touches anything (it used to
    clear the first's staging folder as abandoned); the first, its bundle half built meanwhile, finishes."""
    assert HELD_EXPORT != PAUSED_EXPORT
    out = tmp_path / "bundles"
    first = _start_export(run_dir, out, HELD_EXPORT)
    try:
        staged = _wait_for_staged_bundle(out, first)  # the first holds --out, its bundle staged and unverified
        second = run_python("-m", "brainedge.export", str(run_dir), "--out", str(out), "--variants", "tflite_float32")
        assert second.returncode == 2, second.stderr[-2000:]
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {out}: in use by brainedge-export (pid {first.pid} on ")
        assert "Traceback" not in second.stderr and staged.is_dir(), "the second export touched the first's bundle"
    finally:
        (tmp_path / "go").write_text("")
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-3000:]
    Bundle.open(out / "tflite_int8_ptq")  # whole and verified: a bundle left pending is refused
    assert [row["variant"] for row in json.loads((out / "export_report.json").read_text())] == ["tflite_int8_ptq"]
    assert sorted(os.listdir(out)) == ["export_report.json", "tflite_int8_ptq"]  # no lock file, nothing staged


def test_a_lock_file_left_in_a_new_out_blocks_no_export(run_dir: Path, tmp_path: Path) -> None:
    """A crashed export's lock file, naming a pid that is in use again (this test's), is neither a stranger's
    file nor another export at work: the next export goes ahead, and takes the file away when done."""
    out = tmp_path / "bundles"
    out.mkdir()
    (out / LOCK_NAME).write_text(f"brainedge-export (pid {os.getpid()} on {socket.gethostname()} since then)\n")
    done = run_python("-m", "brainedge.export", str(run_dir), "--out", str(out), "--variants", "tflite_float32")
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(os.listdir(out)) == ["export_report.json", "tflite_float32"]


def test_each_bundle_is_qualified_from_its_own_outputs(exported: tuple[Path, subprocess.CompletedProcess]) -> None:
    """Temperature, OOD statistics and threshold are fitted per bundle: an int8 model's features are its own."""
    out, _ = exported
    report = {row["variant"]: row for row in json.loads((out / "export_report.json").read_text())}
    heads = {}
    for name in VARIANTS:
        metadata = Bundle.open(out / name).metadata
        assert metadata.head is not None and metadata.calibration is not None, name
        ood = metadata.out_of_distribution
        assert ood.fit["val_rejection"] <= ood.fit["target_val_rejection"] + 1 / ood.fit["val_images"], name
        assert report[name]["temperature"] == metadata.calibration.temperature
        assert report[name]["ood_threshold"] == ood.threshold
        heads[name] = (out / name / metadata.head.file).read_bytes()
    assert heads["tflite_float32"] != heads["tflite_int8_ptq"] != heads["tflite_int8_qat"]


def test_target_accuracy_chooses_the_referral_threshold_on_validation(run_dir: Path, tmp_path: Path) -> None:
    from brainedge.edge_runtime.calibration import referral_threshold
    from brainedge.edge_runtime.scoring import bundle_outputs
    from brainedge.export.run import LabelledImages, TrainingRun

    out = tmp_path / "bundles"
    done = run_python(
        "-m", "brainedge.export", str(run_dir), "--out", str(out), "--variants", "tflite_float32",
        "--target-accuracy", "0.99",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    bundle = Bundle.open(out / "tflite_float32")
    referral = bundle.metadata.referral
    assert referral.target_accuracy == 0.99 and "referral below" in done.stdout
    val = LabelledImages.load(TrainingRun.open(run_dir), "val")
    outputs = bundle_outputs(bundle, val.images, calibrated=True)
    kept = outputs.ood_scores <= bundle.metadata.out_of_distribution.threshold  # refused answers are never accepted
    calibrated, labels = outputs.probabilities[kept], val.labels[kept]
    choice = referral_threshold(calibrated.max(axis=1), calibrated.argmax(axis=1) == labels, 0.99)
    assert bundle.metadata.confidence_threshold == pytest.approx(choice.threshold, abs=1e-6)
    assert referral.validation_coverage == pytest.approx(choice.coverage * kept.mean())
    assert referral.validation_count == len(val.labels)
    # without a target the bundle keeps the fixed default
    assert Bundle.open(run_dir.parent / "bundles" / "tflite_float32").metadata.referral is None


def test_the_export_report_is_rewritten_bundle_by_bundle(tmp_path: Path) -> None:
    """After each bundle: its row replaced, the others kept, so an interrupted export's report matches its folder."""
    from brainedge.export.exporter import update_report

    path = tmp_path / "export_report.json"
    update_report(path, {"variant": "tflite_int8_ptq", "run": 1})
    update_report(path, {"variant": "tflite_float32", "run": 1})
    update_report(path, {"variant": "tflite_int8_ptq", "run": 2})
    rows = json.loads(path.read_text())
    assert [(row["variant"], row["run"]) for row in rows] == [("tflite_float32", 1), ("tflite_int8_ptq", 2)]
    path.write_text("{not json")
    update_report(path, {"variant": "onnx_int8", "run": 3})
    assert json.loads(path.read_text()) == [{"variant": "onnx_int8", "run": 3}]


def test_a_temperature_that_does_not_help_held_out_images_is_not_kept() -> None:
    """Even rows: confident and right but for one confident mistake (fitted alone: T >> 1); odd rows: all right.
    A temperature fitted on one half makes the other half worse, so the bundle keeps T = 1."""
    from brainedge.export.qualify import SplitOutputs, fit_calibration

    logits = np.tile([[6.0, 0.0, 0.0]], (40, 1))
    labels = np.zeros(40, int)
    labels[0] = 1  # one confident mistake, on an even row
    calibration = fit_calibration(SplitOutputs(logits, np.zeros((40, 1)), labels))
    assert calibration.temperature == 1.0 and "did not lower" in calibration.fit["note"]
    helpful = np.random.default_rng(0).normal(scale=6.0, size=(400, 3))
    noisy = np.array(
        [np.random.default_rng(i).choice(3, p=np.exp(r / 3) / np.exp(r / 3).sum()) for i, r in enumerate(helpful)]
    )
    fitted = fit_calibration(SplitOutputs(helpful, np.zeros((400, 1)), noisy))
    assert fitted.temperature == pytest.approx(3.0, rel=0.25) and "note" not in fitted.fit


def test_all_formats_say_what_they_leave_out(capsys: pytest.CaptureFixture[str]) -> None:
    from brainedge.export.variants import chosen_variants

    assert chosen_variants(["all"], None) == list(VARIANT_NAMES)
    assert capsys.readouterr().out == ""
    without_qat = chosen_variants(["all"], "this run's quantization-aware training has not finished")
    assert without_qat == [name for name in VARIANT_NAMES if name != "tflite_int8_qat"]
    assert "leaves out tflite_int8_qat: this run's quantization-aware training" in capsys.readouterr().out


def test_a_run_dir_that_is_a_file_is_named_as_no_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from brainedge.export.cli import main

    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,label\n")
    assert main([str(manifest)]) == 2  # its default --out, manifest.csv/export, is not the mistake
    assert "manifest.csv: not a training run directory (no config.json)" in capsys.readouterr().err


def test_the_bundles_folder_must_be_named() -> None:
    from brainedge.export.exporter import check_export_folder

    for unnamed in ("", ".", " "):
        with pytest.raises(BrainEdgeError, match="--out is empty or the current folder"):
            check_export_folder(Path(unnamed))


def test_evaluate_replaces_only_its_own_record(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from brainedge.export import evaluate

    notes = tmp_path / "notes.json"
    notes.write_text("my notes")
    assert evaluate.main([str(run_dir), str(tmp_path / "export"), "--out", str(notes)]) == 2
    assert "notes.json: exists and is not an export.evaluate record" in capsys.readouterr().err
    assert notes.read_text() == "my notes"
    assert evaluate.is_evaluation_text(b'[\n  {\n    "variant": "tflite_float32",') and evaluate.is_evaluation_text(
        b"[]"
    )
