"""Import of LiteRT benchmark_model text output into the brainedge-bench schema."""

from __future__ import annotations

import pytest

from brainedge.benchmarks import cli
from brainedge.benchmarks.litert_import import guess_variant, parse_benchmark_log
from brainedge.benchmarks.report import RESULT_JSON
from brainedge.benchmarks.schema import read_result
from brainedge.edge_runtime.errors import BrainEdgeError

# A newer tool on a phone, via adb: log prefixes, a warm-up line, a timed line with percentiles.
PHONE_INT8 = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Num threads: [4]
INFO: Graph: [/data/local/tmp/brain_int8.tflite]
INFO: #threads used for CPU inference: [4]
INFO: Loaded model /data/local/tmp/brain_int8.tflite
INFO: Replacing 66 out of 66 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions.
INFO: The input model file size (MB): 3.25
INFO: Initialized session in 21.5ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds.
INFO: count=61 first=14210 curr=7940 min=7801 max=14210 avg=8194.3 std=812 p5=7822 median=8011 p95=9120

INFO: Running benchmark for at least 50 iterations and at least 1 seconds.
INFO: count=125 first=8020 curr=7911 min=7750 max=9830 avg=7990.5 std=233 p5=7790 median=7940 p95=8400

INFO: Inference timings in us: Init: 21500, First inference: 14210, Warmup (avg): 8194.3, \
Inference (avg): 7990.5
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE.
INFO: Memory footprint delta from the start of the tool (MB): init=6.5 overall=14.75
INFO: Overall peak memory footprint (MB) via periodic monitoring: 29.125
"""

# An older desktop build: bare lines, exponent notation, absolute peak footprint, no percentiles.
DESKTOP_FLOAT = """\
STARTING!
Num threads: [1]
Graph: [models/brain_float32.tflite]
count=1 curr=3512391

count=50 first=2990275 curr=2913402 min=2727568 max=3189954 avg=2.95034e+06 std=109798

Inference timings in us: Init: 17187, First inference: 3512391, Warmup (avg): 3.51239e+06, \
Inference (avg): 2.95034e+06
Peak memory footprint (MB): init=4.21094 overall=46.0859
"""


def test_newer_phone_log():
    [row] = parse_benchmark_log(PHONE_INT8)
    assert row["artifact"] == "brain_int8.tflite" and row["variant"] == "tflite_int8_ptq"
    assert row["backend"] == "benchmark_model[TfLiteXNNPackDelegate]" and row["threads"] == 4
    assert row["init_ms"] == pytest.approx(21.5) and row["first_ms"] == pytest.approx(14.21)
    latency = row["latency_ms"]
    assert latency["mean"] == pytest.approx(7.9905)  # the timed run's average, not the warm-up's
    assert latency["p50"] == pytest.approx(7.94) and latency["p95"] == pytest.approx(8.4)
    assert latency["min"] == pytest.approx(7.75) and latency["std"] == pytest.approx(0.233)
    assert latency["p90"] is None and latency["p99"] is None  # the tool does not report them
    assert row["size_bytes"] == round(3.25 * 1024 * 1024)
    assert row["peak_rss_mb"] == pytest.approx(29.125)
    assert row["memory_delta_mb"] == {"init": 6.5, "overall": 14.75}


def test_older_desktop_log_with_exponents():
    [row] = parse_benchmark_log(DESKTOP_FLOAT)
    assert row["variant"] == "tflite_float32" and row["backend"] == "benchmark_model" and row["threads"] == 1
    assert row["latency_ms"]["mean"] == pytest.approx(2950.34)
    assert row["latency_ms"]["p50"] is None and row["latency_ms"]["max"] == pytest.approx(3189.954)
    assert row["peak_rss_mb"] == pytest.approx(46.0859) and row["memory_delta_mb"] is None
    assert row["size_bytes"] is None


def test_one_log_with_two_invocations():
    rows = parse_benchmark_log(DESKTOP_FLOAT + "\n" + PHONE_INT8)
    assert [r["artifact"] for r in rows] == ["brain_float32.tflite", "brain_int8.tflite"]


def test_not_a_benchmark_log():
    with pytest.raises(BrainEdgeError, match="no 'Inference timings in us"):
        parse_benchmark_log("Segmentation fault\n", "crash.txt")


@pytest.mark.parametrize(
    "name, variant",
    [
        ("m_fp16.tflite", "tflite_float16"),
        ("m_dynamic_range.tflite", "tflite_dynamic_range"),
        ("m_int8_qat.tflite", "tflite_int8_qat"),
        ("model.tflite", None),
    ],
)
def test_variant_from_file_name(name, variant):
    assert guess_variant(name) == variant


def test_every_hinted_variant_is_in_the_variant_table():
    from brainedge.benchmarks.litert_import import VARIANT_HINTS
    from brainedge.edge_runtime.variants import VARIANT_NAMES

    assert {variant for _hint, variant in VARIANT_HINTS} <= set(VARIANT_NAMES)


def test_import_cli_writes_a_valid_result_with_ratios(tmp_path):
    (tmp_path / "int8.txt").write_text(PHONE_INT8)
    (tmp_path / "float.txt").write_text(
        PHONE_INT8.replace("brain_int8", "brain_float32").replace("7940", "15880").replace("3.25", "13.0")
    )
    out = tmp_path / "pixel"
    assert (
        cli.main(
            [
                "--import-litert",
                str(tmp_path / "int8.txt"),
                str(tmp_path / "float.txt"),
                "--device-name",
                "pixel7",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    result = read_result(out / RESULT_JSON)
    assert result["runs"][0]["device"]["name"] == "pixel7"
    assert {r["device"] for r in result["rows"]} == {"pixel7"}
    [ratio] = result["ratios"]
    assert ratio["artifact"] == "brain_int8.tflite" and ratio["latency_p50_ratio"] == pytest.approx(0.5)
    assert ratio["size_ratio"] == pytest.approx(0.25, abs=1e-6) and ratio["accuracy_delta"] is None
    assert "pixel7" in (out / "report.md").read_text()


def test_import_cli_reports_a_bad_log_in_one_line(tmp_path, capsys):
    (tmp_path / "x.txt").write_text("nothing here")
    assert cli.main(["--import-litert", str(tmp_path / "x.txt"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
