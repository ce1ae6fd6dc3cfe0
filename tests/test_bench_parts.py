"""brainedge-bench building blocks that need no model: schema, test sets, device record, scores."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from PIL import Image

from brainedge.benchmarks.dataset import load_test_set
from brainedge.benchmarks.device import cpu_model, cpu_temperature, device_record
from brainedge.benchmarks.harness import assemble, classification_scores, make_run
from brainedge.benchmarks.merge import merge_results
from brainedge.benchmarks.report.results_csv import CSV_COLUMNS, NOT_IN_CSV, CsvColumn, render_csv
from brainedge.benchmarks.rows import COLUMNS, ROW_COLUMNS, BenchRow, rows_of
from brainedge.benchmarks.runner import latency_summary, peak_rss_mb
from brainedge.benchmarks.schema import RESULT_SCHEMA, SCHEMA_VERSION, read_result, schema_text, validate
from brainedge.edge_runtime.errors import BrainEdgeError


def _row(**changes):
    row = {
        "run": "r",
        "device": "d",
        "artifact": "a",
        "format": "tflite",
        "variant": "float32",
        "backend": "litert",
        "threads": 1,
        "accuracy": 0.9,
        "macro_f1": 0.9,
        "agreement": 1.0,
        "size_bytes": 10,
        "init_ms": 1.0,
        "first_ms": 1.0,
        "latency_ms": {"p50": 1.0, "p90": 1.0, "p99": 1.0, "mean": 1.0},
        "throughput_ips": 5.0,
        "peak_rss_mb": 40.0,
        "status": "ok",
        "error": None,
    }
    row.update(changes)
    return BenchRow.from_json(row)


def _result(rows):
    return assemble([make_run("r", device_record("d"), "brainedge-bench x", None, None, "a")], rows)


def test_schema_accepts_a_result_and_names_the_broken_field():
    result = _result([_row(), _row(status="failed", error="boom", latency_ms=None, accuracy=None)])
    validate(result)
    for path, value, message in [
        (("rows", 0, "status"), "fine", r"rows\[0\]\.status: 'fine' is not one of"),
        (("rows", 0, "threads"), "1", r"rows\[0\]\.threads: expected"),
        (("rows", 0, "accuracy"), True, r"rows\[0\]\.accuracy: expected"),
        (("rows", 1, "latency_ms"), {"p50": 1.0}, r"rows\[1\]\.latency_ms: missing 'p90'"),
        (("schema_version",), SCHEMA_VERSION + 1, "newer than this brainedge-bench"),
        (("rows", 0, "run"), "elsewhere", "not in runs"),
    ]:
        broken = copy.deepcopy(result)
        target = broken
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        with pytest.raises(BrainEdgeError, match=message):
            validate(broken)


def column_mismatches(
    schema: dict, columns: tuple[str, ...], csv_columns: tuple[CsvColumn, ...], not_in_csv: tuple[str, ...]
) -> list[str]:
    """How the schema's row columns, the rows' and the CSV's differ (nothing when they are one list)."""
    found = []
    if list(schema["properties"]) != list(columns):
        found.append(f"schema {list(schema['properties'])} != rows {list(columns)}")
    drawn = [column.column for column in csv_columns]
    if sorted({*drawn, *not_in_csv}) != sorted(schema["properties"]) or set(drawn) & set(not_in_csv):
        found.append(f"CSV draws on {sorted(set(drawn))}, leaves out {sorted(not_in_csv)}")
    return found


def test_the_schema_and_the_report_share_one_column_list():
    """The schema's row columns are BenchRow's, in order; the CSV draws on exactly those (but the long ones)."""
    row_schema = RESULT_SCHEMA["properties"]["rows"]["items"]
    assert column_mismatches(row_schema, ROW_COLUMNS, CSV_COLUMNS, NOT_IN_CSV) == []
    assert row_schema["required"] == [column.name for column in COLUMNS if column.metadata["required"]]
    # the check fails when any one side is edited alone
    extra = {**row_schema, "properties": {**row_schema["properties"], "new_ms": {"type": "number"}}}
    assert column_mismatches(extra, ROW_COLUMNS, CSV_COLUMNS, NOT_IN_CSV)
    assert column_mismatches(row_schema, ROW_COLUMNS[::-1], CSV_COLUMNS, NOT_IN_CSV)
    assert column_mismatches(row_schema, ROW_COLUMNS, CSV_COLUMNS[1:], NOT_IN_CSV)  # "run" no longer in the CSV
    assert column_mismatches(row_schema, ROW_COLUMNS, (*CSV_COLUMNS, CsvColumn("x", "no_such")), NOT_IN_CSV)
    assert column_mismatches(row_schema, ROW_COLUMNS, CSV_COLUMNS, NOT_IN_CSV[1:])
    assert column_mismatches(row_schema, ROW_COLUMNS, CSV_COLUMNS, (*NOT_IN_CSV, "accuracy"))
    header = render_csv([_row()]).splitlines()[0].split(",")
    assert header == [column.header for column in CSV_COLUMNS] and len(set(header)) == len(header)


def test_a_row_read_back_is_written_as_it_was():
    """Its keys in their order, a key this schema does not name, and no optional column the file lacked."""
    written = {**_row().to_json(), "memory_delta_mb": {"init": 1.0, "overall": 2.0}}
    written = {"status": written.pop("status"), **written}  # another writer's order (the app's, an import's)
    row = BenchRow.from_json(written)
    assert list(row.to_json().items()) == list(written.items())
    assert row.extra == {"memory_delta_mb": {"init": 1.0, "overall": 2.0}} and row.paired is None
    assert "paired" not in row.to_json() and "temperature" not in row.to_json()
    made = BenchRow(**{name: getattr(row, name) for name in ROW_COLUMNS})
    assert list(made.to_json()) == list(ROW_COLUMNS)  # a new row has every column, in order
    with pytest.raises(TypeError, match="a benchmark row needs run, status"):
        BenchRow(**{name: getattr(row, name) for name in ROW_COLUMNS if name not in ("run", "status")})


@pytest.mark.parametrize("name", ["mri_224", "mri_224_binary", "mri_224_repeat"])
def test_committed_results_read_back_as_they_are(name):
    result = read_result(Path(__file__).parents[1] / "benchmarks" / "results" / name / "results.json")
    assert [list(row.to_json().items()) for row in rows_of(result)] == [list(row.items()) for row in result["rows"]]


@pytest.mark.parametrize("name", ["mri_224", "mri_224_binary", "mri_224_repeat"])
def test_the_committed_schemas_are_the_code_s(name):
    """The results.schema.json beside each committed result is what brainedge-bench writes now."""
    committed = Path(__file__).parents[1] / "benchmarks" / "results" / name / "results.schema.json"
    assert committed.read_text() == schema_text()


def test_a_merge_writes_each_row_as_its_file_had_it_but_for_the_run():
    """A phone's row (its own order, a key of its own) and a desktop's, merged: nothing added or lost."""
    desktop = read_result(Path(__file__).parents[1] / "benchmarks" / "results" / "mri_224" / "results.json")
    phone_row = {"status": "ok", **_row(run="run", device="pixel").to_json(), "battery_pct": 80}
    app_run = make_run("run", device_record("pixel"), "app", None, None, None)
    phone = assemble([app_run], [BenchRow.from_json(phone_row)])
    assert phone["rows"] == [phone_row]
    merged = merge_results([desktop, phone])
    validate(merged)
    assert [run["id"] for run in merged["runs"]] == ["run", "run-1"]
    expected = [*desktop["rows"], {**phone_row, "run": "run-1"}]
    assert [list(row.items()) for row in merged["rows"]] == [list(row.items()) for row in expected]


def test_folder_test_set_and_label_matching(tmp_path):
    for name, count in (("b", 2), ("a", 3)):
        (tmp_path / name).mkdir()
        for k in range(count):
            Image.new("L", (4, 4)).save(tmp_path / name / f"{k}.png")
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    (tmp_path / "a" / ".hidden.png").write_bytes(b"")
    test_set = load_test_set(tmp_path)
    assert test_set.class_names == ["a", "a", "a", "b", "b"]
    assert test_set.labels_for(["b", "a", "c"]) == [1, 1, 1, 0, 0]
    with pytest.raises(BrainEdgeError, match="class\\(es\\) b are not in the bundle"):
        test_set.labels_for(["a", "c"])
    assert test_set.subset(2).class_names == ["a", "b"]
    assert test_set.describe()["per_class"] == {"a": 3, "b": 2}


def test_manifest_test_split_without_leaked_images(tmp_path):
    manifest_module = pytest.importorskip("brainedge.edge_runtime.manifest")
    rows = [
        manifest_module.ManifestRow(f"{label}/{n}.jpg", label, split, f"g{label}{n}", "0" * 64, 8, 8, leaked)
        for label, n, split, leaked in [
            ("b", 0, "test", False),
            ("a", 1, "test", False),
            ("a", 2, "test", True),
            ("a", 3, "train", False),
        ]
    ]
    path = tmp_path / "manifest.csv"
    manifest_module.write_manifest(path, manifest_module.Manifest(tmp_path / "data", rows))
    test_set = load_test_set(path)
    assert [p.name for p in test_set.paths] == ["1.jpg", "0.jpg"] and test_set.class_names == ["a", "b"]
    assert test_set.paths[0] == tmp_path / "data" / "a" / "1.jpg"
    assert len(load_test_set(path, include_leaked=True).paths) == 3
    assert len(load_test_set(path, split="train").paths) == 1


def test_missing_or_empty_test_set(tmp_path):
    with pytest.raises(BrainEdgeError, match="test set not found"):
        load_test_set(tmp_path / "nope")
    with pytest.raises(BrainEdgeError, match="no images in class subfolders"):
        load_test_set(tmp_path)


def test_scores_count_unreadable_images_as_wrong():
    accuracy, macro_f1 = classification_scores([0, 0, 1, 1], [0, -1, 1, 1], num_classes=2)
    assert accuracy == 0.75
    # class 0: precision 1, recall 0.5 -> F1 2/3; class 1: F1 1
    assert macro_f1 == pytest.approx((2 / 3 + 1) / 2)


def test_latency_summary_percentiles():
    summary = latency_summary([float(v) for v in range(1, 101)])
    assert summary["p50"] == pytest.approx(50.5) and summary["p99"] == pytest.approx(99.01)
    assert summary["mean"] == pytest.approx(50.5) and summary["min"] == 1.0
    assert latency_summary([])["p50"] is None


def test_peak_rss_reads_vmhwm_in_kib(tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmPeak:\t  900000 kB\nVmHWM:\t   51200 kB\n")
    assert peak_rss_mb(status) == 50.0
    assert peak_rss_mb(tmp_path / "absent") > 1  # falls back to ru_maxrss


def test_device_record_fields(tmp_path):
    record = device_record("bench-box")
    assert record["name"] == "bench-box" and record["cores"] >= 1 and record["python"].count(".") == 2
    assert set(record["packages"]) >= {"numpy", "ai-edge-litert", "onnxruntime"}
    assert "throttled" in record  # a Raspberry Pi's vcgencmd get_throttled; None elsewhere
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nBogoMIPS\t: 108.00\n\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n")
    assert cpu_model(cpuinfo) == "Raspberry Pi 5 Model B Rev 1.0"
    (tmp_path / "thermal_zone0").mkdir()
    (tmp_path / "thermal_zone0" / "temp").write_text("48312\n")
    assert cpu_temperature(tmp_path) == pytest.approx(48.312)
