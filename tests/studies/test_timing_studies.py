"""The timing studies on the committed tiny bundles: the runtime's overhead and the harness against a bare loop.

Each writes its record (JSON and Markdown) with the command that rebuilds it.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from brainedge.benchmarks.studies import bare_loop, overhead

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ai_edge_litert") is None, reason="LiteRT (the [edge] extra) is needed"
)


def test_overhead_benchmark_runs_on_an_int8_bundle(bundles, tmp_path):
    assert (
        overhead.main(
            [
                "--bundle",
                str(bundles / "int8"),
                "--images",
                "3",
                "--repeats",
                "1",
                "--source-images",
                str(tmp_path / "none"),
                "--photos",
                str(tmp_path / "none"),
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "overhead-int8.json").read_text())
    assert result["overhead"]["samples"] == 3 and result["image_source"] == "synthetic"
    by_format = result["overhead"]["by_stored_format"]
    assert list(by_format) == ["grayscale JPEG"] and by_format["grayscale JPEG"]["images"] == 3
    assert result["colour"]["source"] == "synthetic colour noise" and result["colour"]["overhead_ms"]["mean"] > 0
    assert "quantize" in result["phases"]  # uint8 input: the quantize step is profiled
    assert 10 < result["classify_process"]["peak_rss_mb"] < 300
    assert isinstance(result["targets"]["overhead_met"], bool)
    assert result["command"].startswith("python -m brainedge.benchmarks.studies.overhead --bundle")
    assert "Where the overhead goes" in (tmp_path / "overhead-int8.md").read_text()


def test_bare_loop_study_writes_both_figures_and_the_command(bundles, tmp_path):
    out = tmp_path / "bare_loop_tiny"
    argv = ["--bundle", str(bundles / "int8"), "--test-set", str(bundles / "images"), "--rounds", "4", "--block", "2"]
    assert bare_loop.main([*argv, "--out", str(out)]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["command"].startswith("python -m brainedge.benchmarks.studies.bare_loop --bundle")
    for name in ("harness", "bare", "harness_with_head"):
        assert result["p50_ms"][name] > 0
    assert (
        result["ratio"]["rounds"] == 4 and result["ratio"]["low"] <= result["ratio"]["ratio"] <= result["ratio"]["high"]
    )
    assert isinstance(result["within_target"], bool)
    assert "bare LiteRT loop" in out.with_suffix(".md").read_text()
