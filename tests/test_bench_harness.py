"""brainedge-bench end to end on tiny real bundles: float32 and int8 TFLite, a garbage one, a crash.

The bundles are the session's tiny ones (tests/make_tiny_bundles.py), written by export's own
bundle writer in a subprocess, so TensorFlow never enters this test process.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from bench_rows import bench_row
from make_tiny_bundles import CLASSES, SIZE
from PIL import Image

from brainedge.benchmarks import cli, harness
from brainedge.benchmarks.harness import compute_ratios
from brainedge.benchmarks.merge import merge_files
from brainedge.benchmarks.report import DISTRIBUTION_PNG, RESULT_CSV, RESULT_JSON, SCATTER_PNG
from brainedge.benchmarks.schema import read_result
from brainedge.edge_runtime.bundle import Bundle
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.metadata import BundleMetadata, InputSpec, OutputSpec


@pytest.fixture(scope="module")
def export_dir(bundles: Path, tmp_path_factory) -> Path:
    """The session's tiny float32 and int8 bundles (built by export's writer, in a subprocess)."""
    pytest.importorskip("ai_edge_litert")
    root = tmp_path_factory.mktemp("export")
    for name in ("float32", "int8"):
        shutil.copytree(bundles / name, root / name)
    return root


def _garbage_bundle(directory: Path) -> Path:
    """Random bytes under the metadata of a float model: loads as a bundle, fails as a model."""
    metadata = BundleMetadata(
        model_file="model.tflite",
        model_format="tflite",
        variant="tflite_float32",
        model_sha256="",
        class_names=CLASSES,
        input=InputSpec(height=SIZE, width=SIZE),
        output=OutputSpec(num_classes=len(CLASSES)),
    )
    Bundle.write(directory, os.urandom(2048), metadata)
    return directory


@pytest.fixture(scope="module")
def test_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("testset")
    rng = np.random.default_rng(1)
    for index, name in enumerate(CLASSES):
        (root / name).mkdir()
        for k in range(4):
            pixels = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) // (index + 1)
            Image.fromarray(pixels).save(root / name / f"{k}.png")
    return root


@pytest.fixture(scope="module")
def crashing_runner(tmp_path_factory) -> Path:
    """A runner that dies by SIGABRT for any bundle named *crash*, like a segfaulting interpreter."""
    script = tmp_path_factory.mktemp("runner") / "runner.py"
    script.write_text(
        "import os, sys\n"
        "if 'crash' in sys.argv[sys.argv.index('--bundle') + 1]:\n"
        "    print('interpreter blew up', file=sys.stderr, flush=True); os.abort()\n"
        "from brainedge.benchmarks.runner import main\n"
        "sys.exit(main())\n"
    )
    return script


def _bench(bundles: list[Path], test_folder: Path, out: Path, *extra: str) -> int:
    return cli.main(
        [
            *map(str, bundles),
            *("--test-set", str(test_folder), "--out", str(out)),
            *("--runs", "5", "--warmup", "1", "--rounds", str(ROUNDS), "--block", "2"),
            *extra,
        ]
    )


ROUNDS = 4


@pytest.fixture(scope="module")
def full_run(export_dir, test_folder, crashing_runner, tmp_path_factory) -> tuple[int, dict, Path]:
    """float32 + int8 + a garbage model + a bundle whose subprocess crashes, in one run."""
    garbage = _garbage_bundle(export_dir.parent / "broken" / "garbage")
    crash = export_dir.parent / "broken" / "crash_bundle"
    crash.mkdir()
    for name in ("model.tflite", "labels.txt", "metadata.json"):
        (crash / name).write_bytes((export_dir / "float32" / name).read_bytes())
    out = tmp_path_factory.mktemp("out")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(harness, "RUNNER", (sys.executable, str(crashing_runner)))
        code = _bench([export_dir, garbage, crash], test_folder, out, "--device-name", "desk")
    return code, read_result(out / RESULT_JSON), out


def test_result_is_schema_valid_and_complete(full_run, export_dir):
    code, result, out = full_run
    assert code == 1  # failed rows make the exit status non-zero
    assert result["schema_version"] == 1
    assert result["runs"][0]["device"]["name"] == "desk"
    assert result["runs"][0]["command"].startswith("brainedge-bench ")
    assert (out / RESULT_CSV).read_text().count("\n") == len(result["rows"]) + 1
    ok = {r["artifact"]: r for r in result["rows"] if r["status"] == "ok"}
    assert set(ok) == {"float32", "int8"}
    for row in ok.values():
        assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["macro_f1"] <= 1.0
        assert row["images"] == 12 and row["image_errors"] == 0
        latency = row["latency_ms"]
        assert latency["p50"] <= latency["p90"] <= latency["p99"] and latency["mean"] > 0
        assert len(row["latency_samples_ms"]) == ROUNDS * 2  # from the interleaved rounds, two invokes each
        assert row["latency_isolated_ms"]["p50"] > 0  # the runner's own, kept beside
        paired = row["paired"]
        assert (paired["phase"], paired["artifacts"], paired["error"]) == ("auto, 1 thread(s)", 2, None)
        assert len(paired["round_ms"]) == ROUNDS and paired["drift"]["threshold"] == 0.1
        assert paired["others_cores"] >= 0 if Path("/proc/stat").exists() else paired["others_cores"] is None
        assert paired["p50_interval_ms"] == [min(paired["round_ms"]), max(paired["round_ms"])]  # 4 rounds: all
        assert row["peak_rss_mb"] > 10  # Python + numpy alone exceed this: catches a KiB/MiB slip
        assert row["peak_rss_mb"] < 300  # the child's own peak, not this TensorFlow-laden parent's
        assert row["size_bytes"] == (export_dir / row["artifact"] / "model.tflite").stat().st_size
        assert row["backend"] == "litert" and row["threads"] == 1
    assert ok["float32"]["agreement"] == 1.0
    assert 0.0 <= ok["int8"]["agreement"] <= 1.0


def test_broken_bundles_fail_alone(full_run):
    _, result, _ = full_run
    failed = {r["artifact"]: r for r in result["rows"] if r["status"] == "failed"}
    assert set(failed) == {"garbage", "crash_bundle"}
    assert "not a loadable TFLite model" in failed["garbage"]["error"]
    assert "SIGABRT" in failed["crash_bundle"]["error"]
    assert "interpreter blew up" in failed["crash_bundle"]["error"]
    assert failed["crash_bundle"]["latency_ms"] is None


def test_int8_ratio_against_float32(full_run, export_dir):
    _, result, _ = full_run
    [ratio] = result["ratios"]
    assert (ratio["artifact"], ratio["reference"]) == ("int8", "float32")
    sizes = {name: (export_dir / name / "model.tflite").stat().st_size for name in ("float32", "int8")}
    assert ratio["size_ratio"] == pytest.approx(sizes["int8"] / sizes["float32"])
    assert ratio["size_ratio"] < 1
    rows = {r["artifact"]: r for r in result["rows"]}
    per_round = np.divide(rows["int8"]["paired"]["round_ms"], rows["float32"]["paired"]["round_ms"])
    assert ratio["latency_p50_ratio"] == pytest.approx(np.median(per_round))  # paired round by round
    assert (ratio["latency_ratio_low"], ratio["latency_ratio_high"]) == pytest.approx((min(per_round), max(per_round)))
    assert ratio["paired_rounds"] == ROUNDS
    assert ratio["accuracy_delta"] == pytest.approx(rows["int8"]["accuracy"] - rows["float32"]["accuracy"])


def test_report_renders_with_plots_beside_it(full_run):
    _, _, out = full_run
    report = (out / "report.md").read_text()
    for plot in (SCATTER_PNG, DISTRIBUTION_PNG):
        assert f"]({plot})" in report
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "crash_bundle" in report and "## Failures" in report


def test_merge_two_devices(full_run, tmp_path):
    _, result, out = full_run
    pi = dict(result, runs=[dict(result["runs"][0], device=dict(result["runs"][0]["device"], name="pi"))])
    pi["rows"] = [dict(row, device="pi") for row in result["rows"]]
    (tmp_path / "pi.json").write_text(json.dumps(pi))
    assert (
        cli.main(["--merge", str(out / RESULT_JSON), str(tmp_path / "pi.json"), "--out", str(tmp_path / "merged")]) == 1
    )
    merged = read_result(tmp_path / "merged" / RESULT_JSON)
    assert len(merged["runs"]) == 2 and len({run["id"] for run in merged["runs"]}) == 2
    assert len(merged["rows"]) == 2 * len(result["rows"])
    assert len(merged["ratios"]) == 2  # one int8-vs-float32 per device, never across devices
    assert {r["run"] for r in merged["ratios"]} == {run["id"] for run in merged["runs"]}
    assert "| pi | int8 |" in (tmp_path / "merged" / "report.md").read_text()


def test_merge_refuses_an_invalid_file(full_run, tmp_path):
    _, _, out = full_run
    bad = json.loads((out / RESULT_JSON).read_text())
    del bad["rows"][0]["latency_ms"]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(BrainEdgeError, match=r"rows\[0\]: missing 'latency_ms'"):
        merge_files([out / RESULT_JSON, tmp_path / "bad.json"])


def test_ratios_need_the_same_thread_count():
    row = {"size_bytes": 10, "accuracy": 0.9, "latency_ms": {"p50": 1.0}}
    rows = [
        bench_row(**row, artifact="f", variant="tflite_float32", threads=1),
        bench_row(**row, artifact="q", variant="tflite_int8_ptq", threads=2),
    ]
    assert compute_ratios(rows, {"r": "f"}) == []
    rows.append(bench_row(**dict(row, latency_ms={"p50": 4.0}), artifact="f", variant="tflite_float32", threads=2))
    [only] = compute_ratios(rows, {"r": "f"})
    assert only["latency_p50_ratio"] == 0.25


def test_class_missing_from_bundle_is_a_clear_error(export_dir, test_folder, tmp_path, capsys):
    folder = tmp_path / "testset"
    for name in (*CLASSES, "pituitary"):
        (folder / name).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(folder / name / "a.png")
    assert _bench([export_dir / "float32"], folder, tmp_path / "out") == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "pituitary" in error and "not in the bundle" in error
    assert not (tmp_path / "out").exists()
