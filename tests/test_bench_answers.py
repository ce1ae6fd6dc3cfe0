"""brainedge-bench says whether answers can be taken at their word: calibration, referral, OOD refusal.

Head bundles (tests/make_tiny_bundles.py) report calibration before and after their temperature,
what their referral threshold accepts, what they refuse of the test set and of an ``--ood-set``, and
what their head costs; bundles without a head are benchmarked as before, those fields null. Every
number is checked against ``edge_runtime`` computing it directly from the same bundle.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from bench_rows import bench_row
from make_tiny_bundles import CLASSES, SIZE, colour_images
from PIL import Image

from brainedge.benchmarks import cli
from brainedge.benchmarks.answers import ANSWER_FIELDS, answer_fields, load_ood_set
from brainedge.benchmarks.dataset import LabelledSet, load_test_set
from brainedge.benchmarks.merge import merge_files
from brainedge.benchmarks.report import RELIABILITY_PNG, RESULT_CSV, RESULT_JSON, RISK_COVERAGE_PNG, render_markdown
from brainedge.benchmarks.report.answers_section import ANSWERS_HEADING, answers_section
from brainedge.benchmarks.report.plots import render_plots
from brainedge.benchmarks.report.reliability import reliability_figure
from brainedge.benchmarks.rows import BenchRow
from brainedge.benchmarks.schema import read_result, validate
from brainedge.edge_runtime.bundle import Bundle
from brainedge.edge_runtime.calibration import calibration_scores, reliability_bins
from brainedge.edge_runtime.classifier import Classifier
from brainedge.edge_runtime.engine import Engine
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.head import softmax
from brainedge.edge_runtime.metadata import Calibration, Referral

PNG = b"\x89PNG\r\n\x1a\n"
OLD = ("float32", "int8")
HEADS = ("float32_head", "int8_head", "warm_head")
WARM = {"temperature": 2.5, "threshold": 0.9, "target": 0.95}
"""warm_head: float32_head with a temperature far from 1 and a referral, so before and after differ."""


def _checkerboard(cell: int, size: int = SIZE) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    board = (((y // cell) + (x // cell)) % 2 * 255).astype(np.uint8)
    return np.stack([board] * 3, axis=-1)


OOD_IMAGES = {
    "blank/black.png": np.zeros((SIZE, SIZE, 3), np.uint8),
    "blank/white.png": np.full((SIZE, SIZE, 3), 255, np.uint8),
    "patterns/checker_4.png": _checkerboard(4),
    "patterns/deeper/checker_8.png": _checkerboard(8),  # below the top-level folder: still its group
    "patterns/checker_big.png": _checkerboard(8, 64),
    "unlisted/black.png": np.zeros((SIZE, SIZE, 3), np.uint8),
}
"""Images the tiny head bundles refuse (checked on both: their OOD distance is far beyond the threshold)."""
SOURCES = {
    "groups": [
        {"name": "blank", "kind": "ood"},
        {"name": "patterns", "kind": "ood"},
        {"name": "near", "kind": "near"},
    ]
}


def _write(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


@pytest.fixture(scope="module")
def layout(bundles: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Old and head bundles, a labelled test set with wrong and unsure answers in it, and an OOD set."""
    pytest.importorskip("ai_edge_litert")
    root = tmp_path_factory.mktemp("answers")
    export = root / "export"
    for name in (*OLD, "float32_head", "int8_head"):
        shutil.copytree(bundles / name, export / name)
    shutil.copytree(bundles / "float32_head", export / "warm_head")
    Bundle.open(export / "warm_head").with_metadata(
        calibration=Calibration(WARM["temperature"]),
        referral=Referral(WARM["target"], 0.8, WARM["target"], 96),
        confidence_threshold=WARM["threshold"],
    )
    test_set = root / "test_set"
    shutil.copytree(bundles / "images", test_set)
    rng = np.random.default_rng(5)
    for label, name in enumerate(CLASSES):  # a second channel raised too: some answers wrong, some unsure
        for k in range(6):
            pixels = rng.integers(0, 110, (SIZE, SIZE, 3))
            pixels[..., label] += rng.integers(20, 150)
            pixels[..., (label + 1 + k % 2) % 3] += rng.integers(0, 130)
            _write(test_set / name / f"mixed_{k}.png", np.clip(pixels, 0, 255).astype(np.uint8))
    ood = root / "ood"
    for name, pixels in OOD_IMAGES.items():
        _write(ood / name, pixels)
    for k, image in enumerate(colour_images(2, seed=7)[0]):  # like the training images: not refused
        _write(ood / "near" / f"colour_{k}.png", image)
    (ood / "sources.json").write_text(json.dumps(SOURCES))
    return {"root": root, "export": export, "test_set": test_set, "ood": ood}


@pytest.fixture(scope="module")
def run(layout) -> tuple[dict, Path]:
    out = layout["root"] / "out"
    args = [str(layout["export"]), "--test-set", str(layout["test_set"]), "--ood-set", str(layout["ood"])]
    assert cli.main([*args, "--out", str(out), "--runs", "3", "--warmup", "0"]) == 0
    return read_result(out / RESULT_JSON), out


def _rows(result: dict) -> dict[str, dict]:
    return {row["artifact"]: row for row in result["rows"]}


def _labelled(test_set: Path) -> tuple[list[Path], np.ndarray]:
    paths = sorted(p for p in test_set.rglob("*.png"))
    return paths, np.array([CLASSES.index(p.parent.name) for p in paths])


# ----------------------------------------------------------------------------------------------
# End to end on the tiny bundles


def test_head_bundles_report_their_answers_and_old_ones_null(run, layout):
    result, _ = run
    rows = _rows(result)
    assert set(rows) == {*OLD, *HEADS} and all(r["status"] == "ok" for r in rows.values())
    for name in OLD:
        assert {field: rows[name][field] for field in ANSWER_FIELDS} == dict.fromkeys(ANSWER_FIELDS)
    for name in HEADS:
        row = rows[name]
        assert [field for field in ANSWER_FIELDS if row[field] is None] == [], name
        assert row["head_ms"] > 0 and row["ood_ms"] > 0
        assert row["images"] == len(_labelled(layout["test_set"])[0])  # the OOD set is never a test image
    assert result["runs"][0]["ood_set"]["images"] == len(OOD_IMAGES) + 2


def test_old_bundles_are_measured_as_before(run, layout):
    """Accuracy of an old bundle is what brainedge-classify answers, the OOD set left out of it."""
    result, _ = run
    paths, labels = _labelled(layout["test_set"])
    for name in (*OLD, "float32_head"):
        classifier = Classifier.from_bundle(layout["export"] / name)
        guessed = [CLASSES.index(classifier.classify(p).label) for p in paths]
        assert _rows(result)[name]["accuracy"] == pytest.approx(float(np.mean(np.array(guessed) == labels)))


def test_before_and_after_equal_the_runtime_calibration(run, layout):
    result, _ = run
    paths, labels = _labelled(layout["test_set"])
    for name in HEADS:
        row = _rows(result)[name]
        classifier = Engine.from_bundle(layout["export"] / name)
        outputs = [classifier.run(classifier.preprocess(p), calibrated=False) for p in paths]
        logits = np.concatenate([o.logits for o in outputs])
        temperature = classifier.head.temperature
        assert row["temperature"] == temperature
        for when, probabilities in (("before", softmax(logits)), ("after", softmax(logits, temperature))):
            expected = calibration_scores(probabilities, labels)
            assert row[f"calibration_{when}"] == pytest.approx(expected, rel=1e-9, abs=1e-12), (name, when)
            bins = reliability_bins(probabilities, labels)
            assert row["reliability"][when]["counts"] == bins.counts.tolist()
            assert row["reliability"][when]["accuracy"] == pytest.approx(bins.accuracy.tolist())
        calibrated = np.concatenate([classifier.run(classifier.preprocess(p)).probabilities for p in paths])
        flagged = classifier.head.out_of_distribution(np.concatenate([o.ood_scores for o in outputs]))
        assert 0 < flagged.sum() < len(paths)  # some test answers refused: "accepted" cannot ignore refusal vacuously
        # accepted: not refused as OOD, and confident enough; coverage over every test image
        accepted = ~flagged & (calibrated.max(axis=1) >= classifier.confidence_threshold)
        referral = row["referral"]
        assert referral["threshold"] == classifier.confidence_threshold
        assert referral["accepted"] == int(accepted.sum()) and referral["images"] == len(paths)
        assert referral["refused"] == int(flagged.sum())
        assert referral["coverage"] == pytest.approx(accepted.mean())
        right = calibrated.argmax(axis=1) == labels
        assert referral["accuracy"] == pytest.approx(right[accepted].mean())
        curve = row["risk_coverage"]  # over the answers not refused: it ends at their share, their error rate
        assert curve["coverage"][-1] == pytest.approx((~flagged).mean())
        assert curve["error"][-1] == pytest.approx(1 - right[~flagged].mean())
        assert curve["coverage"] == sorted(curve["coverage"])
        assert row["test_ood"] == {
            "images": len(paths),
            "flagged": int(flagged.sum()),
            "share": flagged.mean(),
            "per_class": [
                {
                    "name": name,
                    "images": int((labels == c).sum()),
                    "flagged": int(flagged[labels == c].sum()),
                    "share": flagged[labels == c].mean(),
                }
                for c, name in enumerate(CLASSES)
            ],
        }


def test_the_comparison_is_not_vacuous(run):
    """The test set has wrong and unsure answers, the temperature changes every score, the referral refers some."""
    rows = _rows(run[0])
    warm, plain = rows["warm_head"], rows["float32_head"]
    assert plain["temperature"] == 1.0 and plain["calibration_before"] == plain["calibration_after"]
    assert warm["calibration_before"] == pytest.approx(plain["calibration_before"])  # the same model
    for score in ("ece", "nll", "brier"):
        assert warm["calibration_after"][score] != pytest.approx(warm["calibration_before"][score], rel=1e-3)
    assert warm["referral"]["target_accuracy"] == WARM["target"] and plain["referral"]["target_accuracy"] is None
    assert 0 < warm["referral"]["accepted"] < warm["referral"]["images"]  # the threshold splits the test set
    assert 0 < warm["accuracy"] < 1 and 0 < warm["calibration_before"]["ece"]
    assert warm["referral"]["accuracy"] > warm["accuracy"]  # accepted answers are the better ones


def test_ood_set_shares_per_folder_and_kind(run, layout):
    result, _ = run
    for name in HEADS:
        classifier = Classifier.from_bundle(layout["export"] / name)
        expected = {}
        for path in sorted(p for p in layout["ood"].rglob("*.png")):
            group = path.relative_to(layout["ood"]).parts[0]
            expected.setdefault(group, []).append(classifier.classify(path).out_of_distribution)
        ood_set = _rows(result)[name]["ood_set"]
        found = {g["name"]: g for g in ood_set["groups"]}
        assert set(found) == set(expected) == {"blank", "patterns", "near", "unlisted"}
        for group, flags in expected.items():
            assert (found[group]["flagged"], found[group]["images"]) == (sum(flags), len(flags)), (name, group)
        # What the images were chosen for: every OOD picture refused, the training-like ones not.
        assert {g: found[g]["share"] for g in found} == {"blank": 1.0, "patterns": 1.0, "near": 0.0, "unlisted": 1.0}
        assert [found[g]["kind"] for g in ("blank", "patterns", "near", "unlisted")] == ["ood", "ood", "near", None]
        assert ood_set["ood"] == {"images": 5, "flagged": 5, "share": 1.0}  # the unlisted folder is in neither
        assert ood_set["near"] == {"images": 2, "flagged": 0, "share": 0.0}


def test_report_has_the_section_and_both_plots(run):
    result, out = run
    report = (out / "report.md").read_text()
    section = report[report.index(ANSWERS_HEADING) : report.index("## Plots")]
    table = [line for line in section.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| bundle | temperature | ECE before → after |")
    assert [line.split(" | ")[0] for line in table[1:]] == [f"| {name}" for name in ("float32_head", "int8_head")] + [
        "| warm_head"
    ]
    warm = next(line for line in table if line.startswith("| warm_head"))
    assert "2.500" in warm and "0.900 (target 95.0%)" in warm and "100.0 (5/5)" in warm and "0.0 (0/2)" in warm
    assert "**coverage %**" in section and "`unlisted/` (not in sources.json)" in section
    for plot in (RELIABILITY_PNG, RISK_COVERAGE_PNG):
        assert f"]({plot})" in section
        data = (out / plot).read_bytes()
        assert data[:8] == PNG and len(data) > 10_000
    header = (out / RESULT_CSV).read_text().splitlines()[0].split(",")
    assert {"ece_before", "ece_after", "referral_coverage", "ood_set_flagged", "near_set_flagged"} <= set(header)


# ----------------------------------------------------------------------------------------------
# Older result files

OLD_RESULT = {
    "schema_version": 1,
    "runs": [
        {
            "id": "pi",
            "device": {
                "name": "pi",
                "cpu": "Cortex-A76",
                "cores": 4,
                "arch": "aarch64",
                "os": "Linux",
                "python": "3.11.2",
            },
            "command": "brainedge-bench export/ --test-set images --out pi",
            "created": "2026-05-01T10:00:00+00:00",
            "settings": {"threads": [1], "backends": ["auto"], "runs": 200, "warmup": 20, "timeout_s": 900.0},
            "test_set": {"source": "images", "images": 12, "per_class": {"red": 4, "green": 4, "blue": 4}},
            "reference": "float32",
        }
    ],
    "rows": [
        {
            "run": "pi",
            "device": "pi",
            "artifact": "float32",
            "format": "tflite",
            "variant": "tflite_float32",
            "backend": "litert",
            "threads": 1,
            "accuracy": 1.0,
            "macro_f1": 1.0,
            "agreement": 1.0,
            "size_bytes": 8592,
            "init_ms": 12.0,
            "first_ms": 0.2,
            "latency_ms": {"p50": 0.1, "p90": 0.1, "p99": 0.2, "mean": 0.1, "min": 0.1, "max": 0.2, "std": 0.01},
            "latency_samples_ms": [0.1, 0.1, 0.2],
            "throughput_ips": 900.0,
            "peak_rss_mb": 60.0,
            "images": 12,
            "image_errors": 0,
            "unreadable_images": [],
            "status": "ok",
            "error": None,
        }
    ],
    "ratios": [],
}
"""A result as brainedge-bench wrote it before rows had answer fields and runs an ood_set."""


def test_an_older_result_still_loads_and_merges(run, tmp_path):
    _, out = run
    (tmp_path / "pi.json").write_text(json.dumps(OLD_RESULT))
    assert read_result(tmp_path / "pi.json") == OLD_RESULT
    merged = merge_files([out / RESULT_JSON, tmp_path / "pi.json"])
    assert len(merged["rows"]) == len(HEADS) + len(OLD) + 1
    assert cli.main(["--merge", str(out / RESULT_JSON), str(tmp_path / "pi.json"), "--out", str(tmp_path / "m")]) == 0
    report = (tmp_path / "m" / "report.md").read_text()
    assert "| pi | float32 |" in report and ANSWERS_HEADING in report
    assert "| warm_head |" in report  # only one device has answers: no device named
    assert (tmp_path / "m" / RELIABILITY_PNG).read_bytes()[:8] == PNG
    alone = render_markdown(OLD_RESULT, [])
    assert ANSWERS_HEADING not in alone and "OOD set" not in alone  # nothing to say, nothing said


def test_the_committed_desktop_result_still_merges(run):
    """The committed 224 px result (benchmarks/results/mri_224) loads and merges with a run made now."""
    committed = Path(__file__).resolve().parents[1] / "benchmarks/results/mri_224/results.json"
    if not committed.is_file():
        pytest.skip(f"{committed} is not in this checkout")
    _, out = run
    merged = merge_files([committed, out / RESULT_JSON])
    committed_rows = json.loads(committed.read_text())["rows"]
    assert len(merged["rows"]) == len(committed_rows) + len(HEADS) + len(OLD)
    assert ANSWERS_HEADING in render_markdown(merged, [])


# ----------------------------------------------------------------------------------------------
# Without a model: the arithmetic, the schema, the OOD set folder


def _payload(**answers) -> dict:
    logits = [[4.0, 0.0, 0.0], [0.0, 3.0, 0.0], None, [1.0, 1.2, 0.0], [0.0, 0.0, 2.0]]
    return {
        "status": "ok",
        "predictions": [0, 1, -1, 1, 2],
        "answers": {
            "head": True,
            "temperature": 2.0,
            "confidence_threshold": 0.6,
            "target_accuracy": None,
            "confidence": [None if row is None else float(softmax(np.array([row]), 2.0).max()) for row in logits],
            "logits": logits,
            "ood_flagged": [False, True, None, False, False],
            "head_ms": 0.05,
            "ood_ms": 0.01,
            "ood_set": None,
            **answers,
        },
    }


def test_answer_fields_leave_unreadable_images_out_and_apply_the_temperature():
    labels = [0, 1, 2, 0, 2]  # the third image did not decode; the fourth answer is wrong
    fields = answer_fields(labels, _payload())
    logits, truth = np.array([[4.0, 0, 0], [0, 3.0, 0], [1.0, 1.2, 0], [0, 0, 2.0]]), np.array([0, 1, 0, 2])
    assert fields["calibration_before"] == pytest.approx(calibration_scores(softmax(logits), truth))
    assert fields["calibration_after"] == pytest.approx(calibration_scores(softmax(logits, 2.0), truth))
    assert fields["calibration_after"] != pytest.approx(fields["calibration_before"])
    confidence = softmax(logits, 2.0).max(axis=1)
    refused = np.array([False, True, False, False])  # the second answer is confident, right, and refused as OOD
    accepted = (confidence >= 0.6) & ~refused
    assert confidence[1] >= 0.6 and accepted.sum() == 1  # so refusal is what keeps it out
    assert fields["referral"]["accepted"] == accepted.sum() and fields["referral"]["images"] == 4
    assert fields["referral"]["refused"] == 1 and fields["referral"]["coverage"] == 0.25
    assert fields["referral"]["accuracy"] == pytest.approx(np.array([1, 1, 0, 1])[accepted].mean())
    assert fields["test_ood"]["images"] == 4 and fields["test_ood"]["flagged"] == 1
    assert fields["test_ood"]["share"] == 0.25
    # the curve ranks the three answers not refused; coverage is of all four images
    assert fields["risk_coverage"]["coverage"][-1] == 0.75
    assert fields["risk_coverage"]["error"][-1] == pytest.approx(1 / 3)
    # A check that would pass whatever the fields held: the same payload at T = 1 has after == before.
    at_one = answer_fields(labels, _payload(temperature=1.0))
    assert at_one["calibration_after"] == at_one["calibration_before"] == fields["calibration_before"]
    # Logits a broken model made NaN are left out like an unreadable image, never a NaN in the result.
    broken = _payload()
    broken["answers"]["logits"][1] = [float("nan")] * 3
    assert answer_fields(labels, broken)["referral"]["images"] == 3


def test_no_head_no_answers():
    assert answer_fields([0], _payload(head=False)) == dict.fromkeys(ANSWER_FIELDS)
    assert answer_fields([0], {"status": "ok", "predictions": [0]}) == dict.fromkeys(ANSWER_FIELDS)  # an old runner
    assert answer_fields([0], {"status": "failed", "error": "boom"}) == dict.fromkeys(ANSWER_FIELDS)
    no_labels = answer_fields([], _payload())
    assert no_labels["calibration_before"] is None and no_labels["head_ms"] == 0.05


def test_schema_checks_the_new_fields_when_present():
    """The optional fields are validated: a row that merely lacks them loads, a broken one does not."""
    result = copy.deepcopy(OLD_RESULT)
    row = result["rows"][0]
    row.update(answer_fields([0, 1, 2, 0, 2], _payload()))
    validate(result)
    for field, value, message in [
        ("calibration_after", {"ece": 0.1, "brier": 0.2}, r"calibration_after: missing 'nll'"),
        ("referral", dict(row["referral"], coverage="all"), r"referral\.coverage: expected"),
        ("test_ood", {"images": 4, "flagged": 1.5, "share": 0.3}, r"test_ood\.flagged: expected"),
        ("head_ms", "fast", r"head_ms: expected"),
    ]:
        broken = copy.deepcopy(result)
        broken["rows"][0][field] = value
        with pytest.raises(BrainEdgeError, match=message):
            validate(broken)


def test_ood_set_folder(tmp_path):
    for name in ("a/x.png", "a/deeper/y.png", "b/z.png", "top.png"):
        _write(tmp_path / "set" / name, np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "set" / "b" / "notes.txt").write_text("not an image")
    found = load_ood_set(tmp_path / "set")
    assert found.groups == ["a", "a", "b", "."] and found.kinds == {".": "ood", "a": "ood", "b": "ood"}
    (tmp_path / "set" / "sources.json").write_text(json.dumps({"groups": [{"name": "b", "kind": "near"}]}))
    assert load_ood_set(tmp_path / "set").kinds == {".": None, "a": None, "b": "near"}
    with pytest.raises(BrainEdgeError, match="OOD set not found"):
        load_ood_set(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BrainEdgeError, match="no images in the OOD set"):
        load_ood_set(tmp_path / "empty")
    (tmp_path / "set" / "sources.json").write_text('{"groups": [{"name": "b"}]}')
    with pytest.raises(BrainEdgeError, match="sources.json: expected"):
        load_ood_set(tmp_path / "set")


def test_unknown_kinds_and_a_file_are_refused_in_one_line(tmp_path):
    _write(tmp_path / "set" / "fruit" / "x.png", np.zeros((4, 4, 3), np.uint8))
    sources = tmp_path / "set" / "sources.json"
    sources.write_text(json.dumps({"groups": [{"name": "fruit", "kind": "banana"}]}))
    with pytest.raises(BrainEdgeError) as refused:
        load_ood_set(tmp_path / "set")
    message = str(refused.value)
    assert "\n" not in message and "sources.json" in message and "'fruit'" in message and '"banana"' in message
    assert 'allowed kinds: "ood", "near"' in message
    with pytest.raises(BrainEdgeError, match="x.png: not a folder"):
        load_ood_set(tmp_path / "set" / "fruit" / "x.png")


def _answer_row(name: str, device: str = "desktop", run: str = "run") -> BenchRow:
    """A row as the harness makes it for a head bundle, from the model-free payload."""
    fields = answer_fields([0, 1, 2, 0, 2], _payload(), class_names=CLASSES)
    return bench_row(run=run, device=device, artifact=name, **fields)


def test_refusal_per_true_class():
    """Which class pays for refusal: the test images refused as OOD, per true class, in the row and the report."""
    row = _answer_row("mri_224_int8")
    # labels [0, 1, 2, 0, 2], flags [no, yes, unreadable, no, no]
    assert row.test_ood["per_class"] == [
        {"name": "red", "images": 2, "flagged": 0, "share": 0.0},
        {"name": "green", "images": 1, "flagged": 1, "share": 1.0},
        {"name": "blue", "images": 1, "flagged": 0, "share": 0.0},
    ]
    section = "".join(answers_section([row], []))
    assert "per true class" in section
    assert "- mri_224_int8: red 0.0% (0/2); green 100.0% (1/1); blue 0.0% (0/1)\n" in section
    older = copy.deepcopy(row)  # a referral from before refusal counted: its numbers are marked as such
    del older.referral["refused"]
    assert "†" not in section and "| 25.0† | 100.0† |" in "".join(answers_section([older], []))
    unnamed = answer_fields([0, 1, 2, 0, 2], _payload())  # without class names: the label index
    assert [c["name"] for c in unnamed["test_ood"]["per_class"]] == ["0", "1", "2"]


@pytest.mark.parametrize("panels", [1, 2, 3])
def test_the_reliability_figure_fits_one_bundle_or_several(panels):
    """No "axes sizes collapsed to zero": every panel has room, the legend and titles lie inside the image."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [_answer_row(f"mri_224/tflite_int8_ptq_{k}", device=f"raspberry-pi-{k}") for k in range(panels)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # constrained layout's complaint is a UserWarning
        figure = reliability_figure(plt, rows)
        try:
            figure.canvas.draw()
            renderer = figure.canvas.get_renderer()
            bounds = figure.bbox
            legends = [axes.get_legend() for axes in figure.axes if axes.get_legend() is not None]
            titles = [axes.title for axes in figure.axes if axes.get_title()]
            assert len(legends) == 1 and len(titles) == panels
            for artist in (*legends, *titles):
                box = artist.get_window_extent(renderer)
                assert bounds.x0 - 1 <= box.x0 and box.x1 <= bounds.x1 + 1, artist
                assert bounds.y0 - 1 <= box.y0 and box.y1 <= bounds.y1 + 1, artist
            drawn = [axes for axes in figure.axes if axes.axison]
            assert len(drawn) == 2 * panels
            assert all(axes.bbox.width > 150 and axes.bbox.height > 60 for axes in drawn)
        finally:
            plt.close(figure)
        plots = render_plots(rows)  # and saved as the report's PNGs, still without a warning
    assert plots[RELIABILITY_PNG][:8] == PNG and plots[RISK_COVERAGE_PNG][:8] == PNG


def test_limit_means_the_number_of_images_used():
    """857 test images (those not leaked) with --limit 200 gave 172: every ceil(857 / 200) = 5th. Now 200."""
    names = ["glioma"] * 198 + ["meningioma"] * 201 + ["notumor"] * 239 + ["pituitary"] * 219
    full = LabelledSet("manifest.csv:test", [Path(f"{k}.png") for k in range(len(names))], names)
    chosen = full.subset(200)
    assert len(chosen.paths) == len(set(chosen.paths)) == 200 and chosen.paths[0] == Path("2.png")
    counts = chosen.describe()["per_class"]
    assert {name: round(200 * names.count(name) / len(names)) for name in counts} == pytest.approx(counts, abs=1)
    assert full.subset(5000) is full and full.subset(None) is full
    with pytest.raises(BrainEdgeError, match="--limit must be at least 1"):
        full.subset(0)


def test_the_report_says_how_the_test_images_were_chosen(tmp_path):
    from brainedge.edge_runtime.manifest import Manifest, ManifestRow, write_manifest

    rows = [
        ManifestRow(f"{label}/{n}.png", label, "test", f"g{label}{n}", "0" * 64, 8, 8, n == 0)
        for label in ("a", "b")
        for n in range(5)
    ]
    manifest = tmp_path / "manifest.csv"
    write_manifest(manifest, Manifest(tmp_path / "data", rows))
    args = argparse.Namespace(test_set=manifest, split="test", include_leaked=False, limit=3)
    available = load_test_set(manifest)
    record = {**available.subset(3).describe(), **cli._selection(args, available)}
    assert record["images"] == 3 and record["limit"] == 3
    assert record["available"] == 8 and record["leaked_left_out"] == 2
    result = copy.deepcopy(OLD_RESULT)
    result["runs"][0]["test_set"] = record
    text = render_markdown(result, [])
    assert "--limit 3: 3 of the 8 available" in text and "2 test image(s) with a near-duplicate" in text
    assert "--limit" in cli.build_parser().format_help() and "exactly N" in cli.build_parser().format_help()


def test_a_bad_ood_image_is_named_and_fails_the_run(layout, tmp_path, capsys):
    """Like an unreadable test image: named on stderr, exit 1, left out of the shares and counted in the report."""
    ood = tmp_path / "ood"
    shutil.copytree(layout["ood"], ood)
    broken = ood / "blank" / "broken.png"
    broken.write_bytes(b"not a png at all")
    out = tmp_path / "out"
    args = [str(layout["export"] / "warm_head"), "--test-set", str(layout["test_set"]), "--ood-set", str(ood)]
    assert cli.main([*args, "--limit", "7", "--out", str(out), "--runs", "2", "--warmup", "0"]) == 1
    stderr = capsys.readouterr().err
    assert f"error: {broken}" in stderr and "left out of the OOD-set shares" in stderr
    assert "1 unreadable OOD-set image(s)" in stderr
    result = read_result(out / RESULT_JSON)
    (row,) = result["rows"]
    blank = next(g for g in row["ood_set"]["groups"] if g["name"] == "blank")
    assert (blank["images"], blank["flagged"], blank["unreadable"]) == (2, 2, 1)
    assert [image["path"] for image in row["ood_set"]["unreadable_images"]] == [str(broken)]
    report = (out / "report.md").read_text()
    assert "1 OOD-set image(s) could not be read" in report and "## Unreadable OOD-set images" in report
    # --limit 7 of the 30 test images: 7 used (every ceil(30 / 7) = 5th image would have been 6)
    available = len(_labelled(layout["test_set"])[0])
    assert row["images"] == 7 and result["runs"][0]["test_set"]["images"] == 7
    assert f"--limit 7: 7 of the {available} available" in report


def test_a_merge_of_two_runs_on_one_device_tells_them_apart(run, tmp_path):
    """Two results of one machine (same hostname, so the same device name): every row says its run."""
    _, out = run
    merged = merge_files([out / RESULT_JSON, out / RESULT_JSON])
    device = merged["rows"][0]["device"]
    assert {r["device"] for r in merged["rows"]} == {device} and [r["id"] for r in merged["runs"]] == ["run", "run-1"]
    report = render_markdown(merged, [])
    section = report[report.index(ANSWERS_HEADING) : report.index("**temperature**")]
    labels = [line.split(" | ")[0][2:] for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    labels = labels[1:]  # the header
    assert len(labels) == 2 * len(HEADS) and len(set(labels)) == len(labels)
    assert f"warm_head @{device} (run)" in labels and f"warm_head @{device} (run-1)" in labels
    results = report[report.index("## Results") : report.index(ANSWERS_HEADING)]
    assert f"| {device} (run) | warm_head |" in results and f"| {device} (run-1) | warm_head |" in results
