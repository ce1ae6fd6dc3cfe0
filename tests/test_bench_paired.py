"""Interleaved, paired latency (benchmarks.paired) and the plot that shows it.

The statistics are checked on synthetic samples from a simulated machine whose speed drifts; the
measuring process on the session's tiny real bundles. Nothing here times anything.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from bench_rows import bench_row

from brainedge.benchmarks import cli, harness, paired
from brainedge.benchmarks.device import busy_cpu_seconds, others_cores, throttled, throttled_between
from brainedge.benchmarks.harness import assemble, make_run
from brainedge.benchmarks.paired import drift, median_interval, paired_ratio, round_medians, round_orders
from brainedge.benchmarks.report import RESULT_JSON, render_markdown
from brainedge.benchmarks.report.labels import row_label
from brainedge.benchmarks.report.placement import place_apart
from brainedge.benchmarks.report.scatter import scatter_figure
from brainedge.benchmarks.rows import BenchRow
from brainedge.benchmarks.schema import read_result, validate

TRUE_RATIO = 0.7
"""int8 over float32 on the simulated machine."""


# ----------------------------------------------------------------------------------------------
# The order of the rounds


def test_every_round_runs_every_artifact_once_in_a_changing_order():
    orders = list(round_orders(5, 60, seed=3))
    assert len(orders) == 60
    assert all(sorted(order) == [0, 1, 2, 3, 4] for order in orders)
    assert len({tuple(order) for order in orders}) > 30  # reshuffled every round, not one order repeated
    assert {order[0] for order in orders} == {0, 1, 2, 3, 4}  # every artifact sometimes goes first
    assert list(round_orders(5, 60, seed=3)) == orders  # seeded: the same run twice is the same order
    assert list(round_orders(5, 60, seed=4)) != orders


class _Recording:
    """Stands in for a Classifier: its backend's run notes which artifact was invoked."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.backend = self
        self._name, self._log = name, log

    def run(self, batch: np.ndarray) -> np.ndarray:
        self._log.append(self._name)
        return batch


def test_interleaved_blocks_invoke_in_the_rounds_order_and_settle_before_timing():
    log: list[str] = []
    timed = [(_Recording(name, log), np.zeros(1)) for name in "abc"]
    blocks = paired.interleaved_blocks(timed, rounds=6, block=2, seed=1, settle=3)
    expected = [name for order in round_orders(3, 6, seed=1) for index in order for name in ["abc"[index]] * (3 + 2)]
    assert log == expected  # each block: 3 untimed invokes, then 2 timed
    assert [len(rounds) for rounds in blocks] == [6, 6, 6]
    assert all(len(block) == 2 for rounds in blocks for block in rounds)


# ----------------------------------------------------------------------------------------------
# Paired ratios, intervals and drift on a simulated machine


def _machine(slowdown: float, noise: float, seed: int):
    """Latency of invoke number ``t`` of an artifact whose true latency is ``ms``: slower as t grows."""
    generator = np.random.default_rng(seed)

    def invoke(ms: float, t: int, total: int) -> float:
        return ms * (1 + slowdown * t / total) * float(np.exp(generator.normal(0, noise)))

    return invoke


def _sequential(invoke, true_ms: list[float], rounds: int, block: int) -> list[list[list[float]]]:
    """What the old harness did: every invoke of one artifact, then every invoke of the next."""
    total, t, blocks = len(true_ms) * rounds * block, 0, []
    for ms in true_ms:
        mine = []
        for _ in range(rounds):
            mine.append([invoke(ms, t + k, total) for k in range(block)])
            t += block
        blocks.append(mine)
    return blocks


def _interleaved(invoke, true_ms: list[float], rounds: int, block: int, seed: int = 0) -> list[list[list[float]]]:
    total, t = len(true_ms) * rounds * block, 0
    blocks: list[list[list[float]]] = [[] for _ in true_ms]
    for order in round_orders(len(true_ms), rounds, seed):
        for index in order:
            blocks[index].append([invoke(true_ms[index], t + k, total) for k in range(block)])
            t += block
    return blocks


def test_drift_distorts_a_sequential_ratio_but_not_the_paired_one():
    true_ms = [7.0, 7.0 * TRUE_RATIO]  # float32, int8
    machine = _machine(slowdown=0.6, noise=0.03, seed=0)  # 60% slower by the end, as a heating Pi
    float32, int8 = _sequential(machine, true_ms, rounds=100, block=5)
    sequential = np.median(np.concatenate(int8)) / np.median(np.concatenate(float32))
    assert sequential > 1.25 * TRUE_RATIO  # int8 ran on the slower machine: a false ratio

    float32, int8 = _interleaved(machine, true_ms, rounds=100, block=5)
    ratio = paired_ratio(round_medians(int8), round_medians(float32))
    assert ratio["rounds"] == 100
    assert ratio["ratio"] == pytest.approx(TRUE_RATIO, rel=0.02)
    assert ratio["low"] <= TRUE_RATIO <= ratio["high"] and ratio["high"] - ratio["low"] < 0.05
    assert drift(round_medians(float32))["flagged"]  # the flag still says the machine was not steady


def test_paired_interval_covers_the_true_ratio_about_as_often_as_it_says():
    covered = 0
    for seed in range(400):
        machine = _machine(slowdown=0.3, noise=0.05, seed=seed)
        float32, int8 = _interleaved(machine, [7.0, 7.0 * TRUE_RATIO], rounds=40, block=3, seed=seed)
        ratio = paired_ratio(round_medians(int8), round_medians(float32))
        covered += ratio["low"] <= TRUE_RATIO <= ratio["high"]
    assert 0.93 <= covered / 400 <= 0.995  # 40 rounds: at least 96.2% by the binomial, a little more by ties


def test_median_interval_is_the_binomial_order_statistics():
    values = [float(v) for v in range(1, 101)]
    assert median_interval(values[::-1]) == (40.0, 61.0)  # the textbook pair for n = 100, in any order
    assert median_interval(values[:20]) == (6.0, 15.0)
    assert median_interval(values[:5]) == (1.0, 5.0)  # too few for 95%: the full range
    assert median_interval([3.0]) == (3.0, 3.0) and median_interval([]) is None


def test_paired_ratio_needs_aligned_rounds():
    assert paired_ratio([1.0, 2.0], [1.0]) is None
    assert paired_ratio([], []) is None
    assert paired_ratio([2.0, 4.0, 6.0], [4.0, 8.0, 12.0])["ratio"] == 0.5


def test_drift_flag_fires_on_a_drift_and_not_on_a_steady_series():
    generator = np.random.default_rng(5)
    steady = list(5.0 * np.exp(generator.normal(0, 0.05, 100)))
    assert not drift(steady)["flagged"] and abs(drift(steady)["change"]) < 0.05
    for factor in (1.15, 0.85):  # slower (throttling) or faster (a neighbour that left) by the end
        moved = steady[:50] + [ms * factor for ms in steady[50:]]
        found = drift(moved)
        assert found["flagged"] and found["change"] == pytest.approx(factor - 1, abs=0.04)
    assert drift([5.0]) is None


def test_throttling_is_read_from_vcgencmd_where_there_is_one(tmp_path):
    assert throttled(("no-such-vcgencmd-here", "get_throttled")) is None
    tool = tmp_path / "vcgencmd"
    tool.write_text("#!/bin/sh\necho throttled=0x50005\n")
    tool.chmod(0o755)
    assert throttled((str(tool), "get_throttled")) == "0x50005"
    tool.write_text("#!/bin/sh\necho 'Command not registered'\n")
    assert throttled((str(tool), "get_throttled")) is None
    assert throttled_between("0x0", "0x0") is False
    assert throttled_between("0x50000", "0x50000") is False  # throttled before the phase, not during it
    assert throttled_between("0x0", "0x40000") is True  # throttled and recovered during the phase
    assert throttled_between("0x0", "0x4") is True  # throttled at the end
    assert throttled_between(None, "0x4") is None


def test_what_other_processes_used_comes_from_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice, in clock ticks
    stat.write_text("cpu  300 0 100 5000 50 0 0 100 20 0\ncpu0 150 0 50 2500 25 0 0 50 10 0\n")
    assert busy_cpu_seconds(stat) == pytest.approx(500 / os.sysconf("SC_CLK_TCK"))  # idle, iowait left out
    assert busy_cpu_seconds(tmp_path / "absent") is None
    before = {"busy_cpu_s": 100.0, "own_cpu_s": 10.0, "wall_s": 50.0}
    after = {"busy_cpu_s": 130.0, "own_cpu_s": 20.0, "wall_s": 70.0}
    assert others_cores(before, after) == pytest.approx(1.0)  # 30 s busy, 10 of them ours, over 20 s
    assert others_cores({**before, "busy_cpu_s": None}, after) is None
    assert paired.busy({"others_cores": 1.0}) and not paired.busy({"others_cores": 0.1})
    assert not paired.busy({"others_cores": None})


# ----------------------------------------------------------------------------------------------
# The measuring process and the harness, on the session's tiny real bundles


@pytest.fixture(scope="module")
def tiny(bundles: Path, tmp_path_factory) -> dict[str, Path]:
    pytest.importorskip("ai_edge_litert")
    garbage = tmp_path_factory.mktemp("garbage") / "garbage"
    garbage.mkdir()
    for name in ("labels.txt", "metadata.json"):
        (garbage / name).write_bytes((bundles / "float32" / name).read_bytes())
    (garbage / "model.tflite").write_bytes(os.urandom(2048))
    return {"float32": bundles / "float32", "int8": bundles / "int8", "garbage": garbage, "images": bundles / "images"}


def test_a_bundle_that_cannot_load_fails_alone_and_the_others_are_timed(tiny):
    images = sorted(tiny["images"].rglob("*.png"))
    result = paired.measure(
        [tiny["float32"], tiny["garbage"], tiny["int8"]], "auto", 1, images, rounds=3, block=2, warmup=0
    )
    first, broken, last = result["artifacts"]
    assert broken["status"] == "failed" and "model.tflite" in broken["error"]
    for entry in (first, last):
        assert entry["status"] == "ok" and len(entry["rounds"]) == 3 and all(len(b) == 2 for b in entry["rounds"])
    assert set(result["device_before"]) == set(result["device_after"]) >= {"temperature_c", "throttled", "busy_cpu_s"}


CRASHING_PAIRED = "import os, sys\nprint('interpreter blew up', file=sys.stderr, flush=True)\nos.abort()\n"


def test_a_crashed_interleaved_phase_keeps_every_row_with_its_isolated_latency(tiny, tmp_path, monkeypatch):
    script = tmp_path / "paired.py"
    script.write_text(CRASHING_PAIRED)
    monkeypatch.setattr(harness, "PAIRED", (sys.executable, str(script)))
    out = tmp_path / "out"
    args = [str(tiny["float32"]), str(tiny["int8"]), "--test-set", str(tiny["images"]), "--out", str(out)]
    assert cli.main([*args, "--runs", "3", "--warmup", "0"]) == 0  # every row measured: not a failure
    result = read_result(out / RESULT_JSON)
    for row in result["rows"]:
        assert row["status"] == "ok" and "SIGABRT" in row["paired"]["error"]
        assert row["latency_ms"] == row["latency_isolated_ms"] and len(row["latency_samples_ms"]) == 3
    [ratio] = result["ratios"]
    assert ratio["latency_ratio_low"] is None and ratio["paired_rounds"] is None  # p50 over p50, unpaired
    report = (out / "report.md").read_text()
    assert "not timed interleaved" in report and "| isolated |" in report


def _phase_row(artifact: str, variant: str, round_ms: list[float]) -> BenchRow:
    return bench_row(
        artifact=artifact,
        variant=variant,
        latency_ms={"p50": float(np.median(round_ms))},
        paired={"phase": "auto, 1 thread(s)", "round_ms": round_ms, "drift": drift(round_ms), "throttled": None},
    )


def test_a_ratio_is_flagged_when_either_row_drifted_or_others_were_busy():
    steady = [5.0, 5.1, 4.9, 5.0, 5.05, 4.95, 5.0, 5.0, 5.1, 4.9]
    slowing = [5.0 * (1 + 0.05 * k) for k in range(10)]  # 45% slower by the end
    rows = [_phase_row("f", "tflite_float32", steady), _phase_row("q", "tflite_int8_ptq", [0.7 * ms for ms in steady])]
    [ratio] = harness.compute_ratios(rows, {"r": "f"})
    assert ratio["drift_flagged"] is False and ratio["latency_p50_ratio"] == pytest.approx(0.7)
    for changed in ({"round_ms": slowing, "drift": drift(slowing)}, {"others_cores": 0.9}, {"throttled": True}):
        reference = replace(rows[0], paired={**rows[0].paired, **changed})
        [ratio] = harness.compute_ratios([reference, rows[1]], {"r": "f"})
        assert ratio["drift_flagged"] is True, changed  # whichever row was disturbed, the ratio is not to be trusted


def test_rows_without_interleaved_fields_still_load_and_report():
    """Older result files and the Android app's rows have no ``paired`` or ``latency_isolated_ms``."""
    row = {
        "run": "phone",
        "device": "pixel",
        "format": "tflite",
        "backend": "litert",
        "threads": 4,
        "accuracy": 0.9,
        "macro_f1": 0.9,
        "agreement": None,
        "size_bytes": 10,
        "init_ms": 1.0,
        "first_ms": 1.0,
        "latency_ms": {"p50": 2.0, "p90": 2.0, "p99": 2.0, "mean": 2.0},
        "throughput_ips": None,
        "peak_rss_mb": None,
        "status": "ok",
        "error": None,
    }
    faster = dict(row["latency_ms"], p50=1.0)
    rows = [
        BenchRow.from_json(dict(row, artifact="f", variant="tflite_float32")),
        BenchRow.from_json(dict(row, artifact="q", variant="tflite_int8_ptq", latency_ms=faster)),
    ]
    result = assemble(
        [make_run("phone", {"name": "pixel", "arch": None, "os": None, "python": None}, "app", None, None, "f")], rows
    )
    validate(json.loads(json.dumps(result)))
    assert [list(written) for written in result["rows"]] == [list(rows[0].to_json())] * 2  # no column added
    assert "paired" not in result["rows"][0] and "latency_isolated_ms" not in result["rows"][0]
    [ratio] = result["ratios"]
    assert ratio["latency_p50_ratio"] == 0.5 and ratio["latency_ratio_low"] is None
    report = render_markdown(result, [])
    assert "| 0.500 |" in report and "## Interleaved latency" not in report


# ----------------------------------------------------------------------------------------------
# The accuracy-vs-latency plot


def _plotted_row(index: int, p50: float, accuracy: float, device: str = "box") -> BenchRow:
    return bench_row(
        run=device,
        device=device,
        artifact=f"tflite_bundle_{index}",
        accuracy=accuracy,
        images=857,
        latency_ms={"p50": p50},
        paired={"p50_interval_ms": [p50 - 0.02, p50 + 0.03]},
    )


SEVEN_ALIKE = [_plotted_row(i, 4.50 + 0.005 * i, 0.9825 - 0.0012 * (i % 3)) for i in range(7)]
"""Seven 224 px bundles within 0.03 ms and 0.3 points of each other: the cluster that was unreadable."""


def _label_boxes(figure) -> list:
    """Each label's rendered text (a label's annotation box would also span its leader line)."""
    from matplotlib.text import Text

    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    return [Text.get_window_extent(text, renderer) for axes in figure.axes for text in axes.texts]


def _overlapping(boxes) -> list[tuple[int, int]]:
    return [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[j])]


@pytest.fixture
def plt():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    yield pyplot
    pyplot.close("all")


@pytest.mark.parametrize(
    "rows",
    [
        SEVEN_ALIKE,
        [replace(r, accuracy=0.982) for r in SEVEN_ALIKE],  # all on one point's height
        [*SEVEN_ALIKE, *(replace(r, run="pi", device="pi") for r in SEVEN_ALIKE)],  # two devices, 14 labels
    ],
    ids=["seven alike", "seven at one height", "two devices"],
)
def test_scatter_labels_never_overlap_and_stay_on_the_figure(plt, rows):
    figure = scatter_figure(plt, rows)
    boxes = _label_boxes(figure)
    assert len(boxes) == len(rows)
    assert _overlapping(boxes) == []
    width, height = figure.canvas.get_width_height()
    for box in boxes:
        assert 0 <= box.x0 and box.x1 <= width and 0 <= box.y0 and box.y1 <= height


def test_the_overlap_check_catches_labels_placed_beside_their_points(plt):
    """The placement before issue 19 (each label 4 pt right of and 3 pt above its point) fails the check above."""
    figure = scatter_figure(plt, SEVEN_ALIKE)
    axes = figure.axes[0]
    for text in list(axes.texts):
        text.remove()
    for row in SEVEN_ALIKE:
        point = (row.latency_ms["p50"], 100 * row.accuracy)
        axes.annotate(row_label(row, with_device=False), point, fontsize=7, xytext=(4, 3), textcoords="offset points")
    assert _overlapping(_label_boxes(figure))


def test_scatter_error_bars_are_the_p50_interval_and_the_wilson_interval(plt):
    from brainedge.edge_runtime.metrics import wilson_interval

    figure = scatter_figure(plt, SEVEN_ALIKE[:1])
    [bars] = figure.axes[0].containers
    latency, accuracy = (collection.get_segments()[0] for collection in bars.lines[2])
    row = SEVEN_ALIKE[0]
    assert [x for x, _ in latency] == pytest.approx(row.paired["p50_interval_ms"])
    low, high = wilson_interval(round(row.accuracy * row.images), row.images)
    assert [y for _, y in accuracy] == pytest.approx([100 * low, 100 * high])


def test_place_apart_keeps_a_pitch_and_stays_near_where_wanted():
    assert place_apart([0.5, 0.5, 0.5], 0.1) == pytest.approx([0.5, 0.6, 0.7])
    assert place_apart([0.95, 0.95], 0.1) == pytest.approx([0.9, 1.0])  # pushed back below the top
    assert place_apart([0.1, 0.8], 0.1) == [0.1, 0.8]  # far enough apart: left where they are


# --- rounds split over fresh processes --------------------------------------------------------------


@pytest.mark.parametrize(("rounds", "processes"), [(100, 6), (3, 6), (7, 1), (12, 5)])
def test_rounds_are_split_evenly_over_the_processes(rounds: int, processes: int) -> None:
    split = harness.split_rounds(rounds, processes)
    assert sum(split) == rounds and len(split) == min(rounds, processes) and max(split) - min(split) <= 1


def test_processes_are_joined_in_order_and_an_error_drops_the_rounds() -> None:
    def outcome(rounds, error=None, wall=0.0):
        state = {"wall_s": wall, "busy_cpu_s": wall, "own_cpu_s": 0.0}
        return {"phase": "p", "rounds": rounds, "error": error, "device_before": state, "device_after": state}

    [ok] = harness.join_processes([[outcome([[1.0]], wall=1.0)], [outcome([[2.0], [3.0]], wall=2.0)]])
    assert ok["rounds"] == [[1.0], [2.0], [3.0]] and ok["process_rounds"] == [1, 2] and ok["error"] is None
    assert ok["device_before"]["wall_s"] == 1.0 and ok["device_after"]["wall_s"] == 2.0
    [failed] = harness.join_processes([[outcome([[1.0]])], [outcome([], error="crashed")]])
    assert failed["error"] == "crashed" and failed["rounds"] == [] and failed["process_rounds"] == []


def _runs_of_processes(seed: int, processes: int, rounds: int = 96) -> tuple[list[float], list[float], list[int]]:
    """A run whose every process has its own layout: its int8/float32 ratio is off by up to ±2%, fixed
    for the process, plus round-to-round noise of 0.3%."""
    rng = np.random.default_rng(seed)
    counts = harness.split_rounds(rounds, processes)
    int8, float32 = [], []
    for count in counts:
        layout = 0.74 * (1 + rng.uniform(-0.02, 0.02))
        speed = rng.uniform(4.4, 4.6, count)
        float32 += list(speed)
        int8 += list(speed * layout * (1 + rng.normal(0, 0.003, count)))
    return int8, float32, counts


def test_intervals_over_processes_cover_what_a_process_layout_shifts() -> None:
    """The true ratio (0.74, the median layout) lies in the interval of about 95% of runs of six processes;
    of runs of one process, or of six pooled as if one, in far fewer: their intervals are too narrow."""

    def coverage(processes: int, use_processes: bool) -> float:
        covered = 0
        for seed in range(100):
            int8, float32, counts = _runs_of_processes(seed, processes)
            ratio = paired_ratio(int8, float32, counts if use_processes else None)
            covered += ratio["low"] <= 0.74 <= ratio["high"]
        return covered / 100

    assert coverage(1, use_processes=False) < 0.2
    assert coverage(6, use_processes=False) < 0.6
    assert coverage(6, use_processes=True) >= 0.9


def test_what_others_used_is_summed_within_each_process_not_across_them() -> None:
    """Six processes in turn: the CPU the later ones used is their own, not other processes'."""
    from brainedge.benchmarks.device import others_cores_over

    def reading(wall: float, busy: float, own: float) -> dict:
        return {"wall_s": wall, "busy_cpu_s": busy, "own_cpu_s": own}

    # each process runs 10 s on one full core, alone; the machine's busy time grows by exactly theirs
    spans = [(reading(10 * i, 10 * i, 0.0), reading(10 * i + 10, 10 * i + 10, 10.0)) for i in range(6)]
    assert others_cores_over(spans) == pytest.approx(0.0)
    assert others_cores_over([(spans[0][0], spans[-1][1])]) == pytest.approx(50 / 60)  # one span: wrong
    assert others_cores_over([*spans, (reading(0, 0, 0), {"busy_cpu_s": None})]) is None
