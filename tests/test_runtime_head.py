"""Bundles with a head: calibrated probabilities, out-of-distribution refusal, and the maths behind them.

The tiny head bundles (tests/make_tiny_bundles.py) classify colour images; anything that is not a
noisy colour image must come back "not recognised", and bundles without a head answer as before.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brainedge.edge_runtime.bundle import Bundle
from brainedge.edge_runtime.calibration import (
    calibration_scores,
    fit_temperature,
    referral_threshold,
    reliability_bins,
    risk_coverage,
)
from brainedge.edge_runtime.classifier import NOT_RECOGNISED, Classifier, ClassifierOptions
from brainedge.edge_runtime.cli import main as classify_main
from brainedge.edge_runtime.engine import Engine
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.head import PpcaMahalanobis, softmax
from brainedge.edge_runtime.metadata import METADATA_FILE
from brainedge.edge_runtime.tensors import read_tensors, tensors_from_bytes, tensors_to_bytes

HEAD_BUNDLES = ("float32_head", "int8_head")


def unlike_training(folder: Path) -> list[Path]:
    """Images that are not noisy colour squares: blank, checkerboard, stripes, a gradient."""
    y, x = np.indices((32, 32))
    patterns = {
        "black": np.zeros((32, 32)),
        "white": np.full((32, 32), 255),
        "checker": (x + y) % 2 * 255,
        "stripes": (x // 4) % 2 * 255,
        "gradient": x * 8,
    }
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, grey in patterns.items():
        paths.append(folder / f"{name}.png")
        Image.fromarray(np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)).save(paths[-1])
    return paths


def training_like(bundles: Path) -> list[Path]:
    return sorted((bundles / "images").rglob("*.png"))


@pytest.mark.parametrize("name", HEAD_BUNDLES)
def test_images_like_the_training_ones_are_answered_and_others_refused(
    bundles: Path, tmp_path: Path, name: str
) -> None:
    classifier = Classifier.from_bundle(bundles / name)
    for path in training_like(bundles):
        prediction = classifier.classify(path)
        assert prediction.label == path.parent.name and prediction.out_of_distribution is False, path
    refused = [classifier.classify(path) for path in unlike_training(tmp_path)]
    assert all(p.out_of_distribution for p in refused), [(p.label, p.ood_score) for p in refused]
    threshold = classifier.metadata.out_of_distribution.threshold
    assert all(p.ood_score > threshold for p in refused)


@pytest.mark.parametrize("name", HEAD_BUNDLES)
def test_printed_probabilities_are_the_calibrated_ones(bundles: Path, name: str) -> None:
    classifier = Engine.from_bundle(bundles / name)
    batch = classifier.preprocess(training_like(bundles)[0])
    outputs = classifier.run(batch)
    temperature = classifier.bundle.metadata.calibration.temperature
    np.testing.assert_allclose(outputs.probabilities, softmax(outputs.logits, temperature), atol=1e-7)
    np.testing.assert_allclose(classifier.probabilities(batch, calibrated=False), softmax(outputs.logits), atol=1e-7)
    # and the temperature is applied: another temperature gives other probabilities
    classifier.head.temperature = temperature * 2 + 0.5
    assert not np.allclose(classifier.run(batch).probabilities, outputs.probabilities, atol=1e-4)


def test_the_cli_says_not_recognised_in_text_json_and_csv(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = unlike_training(tmp_path / "odd")[:2] + training_like(bundles)[:1]
    bundle = str(bundles / "int8_head")
    assert classify_main(["--bundle", bundle, *map(str, images)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [NOT_RECOGNISED in line for line in lines] == [True, True, False]
    assert classify_main(["--bundle", bundle, "--format", "json", *map(str, images)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["ood"] for r in records] == [True, True, False]
    assert all(isinstance(r["ood_score"], float) for r in records)
    assert classify_main(["--bundle", bundle, "--format", "csv", *map(str, images)]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].split(",")[3:6] == ["uncertain", "ood", "ood_score"]
    assert [row.split(",")[4] for row in rows[1:]] == ["true", "true", "false"]


def test_a_bundle_without_a_head_answers_as_before(bundles: Path) -> None:
    """Schema 1 bundles (metadata written before heads existed) load and give the same answers."""
    old = Bundle.open(bundles / "int8")
    raw = json.loads((old.directory / METADATA_FILE).read_text())
    assert raw.get("head") is None
    classifier = Engine.from_bundle(old)
    prediction = classifier.classify(training_like(bundles)[0])
    assert prediction.out_of_distribution is None and prediction.ood_score is None
    assert classifier.head is None and classifier.run(classifier.preprocess(training_like(bundles)[0])).logits is None


def test_schema_1_metadata_still_loads(bundles: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(bundles / "int8", tmp_path / "old")
    raw = json.loads((copy / METADATA_FILE).read_text())
    for key in ("head", "calibration", "out_of_distribution", "referral"):
        raw.pop(key, None)
    raw["schema_version"] = 1
    (copy / METADATA_FILE).write_text(json.dumps(raw))
    image = training_like(bundles)[0]
    assert Classifier.from_bundle(copy).classify(image) == Classifier.from_bundle(bundles / "int8").classify(image)


def test_a_changed_head_file_is_refused(bundles: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(bundles / "float32_head", tmp_path / "changed")
    head = copy / "head.safetensors"
    data = bytearray(head.read_bytes())
    data[-1] ^= 0x01
    head.write_bytes(bytes(data))
    with pytest.raises(BrainEdgeError, match="head.safetensors: sha256 .* the head was changed"):
        Bundle.open(copy)
    head.unlink()
    with pytest.raises(BrainEdgeError, match="head.safetensors: head file named in the bundle metadata is missing"):
        Bundle.open(copy)


def test_a_nan_score_is_not_recognised(bundles: Path) -> None:
    """NaN features (a broken model or input) compare false with any threshold: they must not pass as fine."""
    head = Engine.from_bundle(bundles / "float32_head").head
    assert head.out_of_distribution(np.array([np.nan, 0.0, np.inf])).tolist() == [True, False, True]


def test_bundle_files_and_size_count_the_head(bundles: Path) -> None:
    bundle = Bundle.open(bundles / "int8_head")
    assert bundle.head_path in bundle.files
    assert bundle.size_bytes == bundle.model_path.stat().st_size + bundle.head_path.stat().st_size


def test_calibration_needs_a_head(bundles: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(bundles / "float32_head", tmp_path / "headless")
    raw = json.loads((copy / METADATA_FILE).read_text())
    raw["head"] = None
    (copy / METADATA_FILE).write_text(json.dumps(raw))
    with pytest.raises(BrainEdgeError, match="calibration needs a head"):
        Bundle.open(copy)


# --- the head file ---------------------------------------------------------------------------


def test_tensors_round_trip_in_the_safetensors_layout() -> None:
    tensors = {"a.kernel": np.arange(6, dtype=np.float32).reshape(2, 3), "a.bias": np.array([0.5, -1.0, 2.0])}
    data = tensors_to_bytes(tensors)
    header_length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_length])
    assert header["a.kernel"] == {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}
    assert (8 + header_length) % 8 == 0
    back = tensors_from_bytes(data)
    assert list(back) == list(tensors)
    for name, array in tensors.items():
        np.testing.assert_array_equal(back[name], array.astype(np.float32))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[:5], "shorter than its 8-byte header length"),
        (lambda data: (10**9).to_bytes(8, "little") + data[8:], "does not fit the file"),
        (lambda data: data[:8] + b"x" + data[9:], "header is not JSON"),
        (lambda data: data[:-4], "do not fit shape"),
        (lambda data: data.replace(b'"F32"', b'"F16"'), "is not F32"),
        (lambda data: (200_000).to_bytes(8, "little") + b"[" * 200_000, "nested too deeply"),
    ],
)
def test_a_broken_head_file_is_one_line(tmp_path: Path, damage, message: str) -> None:
    path = tmp_path / "head.safetensors"
    path.write_bytes(damage(tensors_to_bytes({"w": np.ones((2, 2), np.float32)})))
    with pytest.raises(BrainEdgeError) as error:
        read_tensors(path)
    assert str(error.value).startswith(f"{path}: not a safetensors file") and message in str(error.value)
    assert "\n" not in str(error.value)


# --- the maths -------------------------------------------------------------------------------


def test_ppca_distance_is_the_mahalanobis_distance_of_its_covariance() -> None:
    """d(x) = (x - m)^T S^-1 (x - m) with S = B diag(v) B^T + s (I - B B^T), nearest class mean."""
    rng = np.random.default_rng(0)
    dimension, kept = 12, 4
    basis, _ = np.linalg.qr(rng.normal(size=(dimension, kept)))
    variances, residual = np.array([5.0, 3.0, 2.0, 1.5]), 0.25
    means = rng.normal(size=(3, dimension))
    statistics = PpcaMahalanobis(means, basis, variances, residual)
    covariance = basis @ np.diag(variances) @ basis.T + residual * (np.eye(dimension) - basis @ basis.T)
    inverse = np.linalg.inv(covariance)
    points = rng.normal(size=(20, dimension)) * 2
    expected = np.min([np.einsum("ij,jk,ik->i", points - m, inverse, points - m) for m in means], axis=0)
    np.testing.assert_allclose(statistics.distances(points), expected, rtol=1e-9)


def test_fitted_temperature_recovers_the_one_that_made_the_labels() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=4.0, size=(4000, 4))
    true_temperature = 2.5
    probabilities = softmax(logits, true_temperature)
    labels = np.array([rng.choice(4, p=row) for row in probabilities])
    fitted = fit_temperature(logits, labels)
    assert abs(fitted - true_temperature) < 0.15
    before = calibration_scores(softmax(logits), labels)
    after = calibration_scores(softmax(logits, fitted), labels)
    assert after["ece"] < 0.02 < before["ece"] and after["nll"] < before["nll"] and after["brier"] < before["brier"]


def test_expected_calibration_error_by_hand() -> None:
    """Two bins: 0.95 confident, 1 of 2 right (|0.5 - 0.95|); 0.6 confident, 2 of 2 right (|1 - 0.6|)."""
    probabilities = np.array([[0.95, 0.05], [0.95, 0.05], [0.6, 0.4], [0.6, 0.4]])
    labels = np.array([0, 1, 0, 0])
    bins = reliability_bins(probabilities, labels)
    assert bins.counts.sum() == 4 and len(bins.counts) == 15
    assert bins.expected_calibration_error == pytest.approx(0.5 * 0.45 + 0.5 * 0.4)


def test_referral_threshold_is_the_lowest_that_reaches_the_target() -> None:
    confidence = np.array([0.99, 0.98, 0.97, 0.90, 0.80, 0.70, 0.60])
    correct = np.array([True, True, True, True, False, True, False])
    choice = referral_threshold(confidence, correct, target_accuracy=0.8)
    # accepting down to 0.70 gives 5/6 = 0.833 >= 0.8; down to 0.60 gives 5/7 = 0.714; the threshold
    # lies halfway between the last accepted and the first referred confidence
    assert (choice.threshold, choice.coverage, choice.reached) == (pytest.approx(0.65), 6 / 7, True)
    assert choice.accuracy == pytest.approx(5 / 6)
    assert referral_threshold(confidence, correct, 1.0).threshold == pytest.approx(0.85)
    everything = referral_threshold(confidence, np.ones(7, bool), 0.99)
    assert everything.coverage == 1.0 and 0.6 - 1e-5 < everything.threshold < 0.6
    unreachable = referral_threshold(np.array([0.9, 0.8]), np.array([False, True]), 0.99)
    assert not unreachable.reached and unreachable.accuracy == 0.5


def test_equal_confidences_are_accepted_or_referred_together() -> None:
    confidence = np.array([0.9, 0.9, 0.9, 0.5])
    correct = np.array([True, False, True, True])
    choice = referral_threshold(confidence, correct, target_accuracy=0.7)
    assert choice.coverage == 1.0  # 3/4 with all four; never a cut between the three equal 0.9s
    coverage, risk = risk_coverage(confidence, correct)
    assert coverage[-1] == 1.0 and risk[-1] == pytest.approx(0.25)


def test_schema_1_metadata_cannot_carry_a_head(bundles: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(bundles / "float32_head", tmp_path / "mislabelled")
    raw = json.loads((copy / METADATA_FILE).read_text())
    raw["schema_version"] = 1
    (copy / METADATA_FILE).write_text(json.dumps(raw))
    with pytest.raises(BrainEdgeError, match="head: needs schema_version 2, found 1"):
        Bundle.open(copy)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_head_tensor_that_is_not_finite_is_refused_on_loading(bundles: Path, tmp_path: Path, bad: float) -> None:
    copy = shutil.copytree(bundles / "float32_head", tmp_path / "nan")
    bundle = Bundle.open(copy)
    tensors = read_tensors(bundle.head_path)
    tensors[bundle.metadata.head.layers[0].kernel][0, 0] = bad
    bundle.with_head(bundle.metadata.head, tensors_to_bytes(tensors))  # a consistent hash: only the values are bad
    with pytest.raises(BrainEdgeError, match=r"head.safetensors: tensor 'head_probabilities.kernel' has non-finite"):
        Classifier.from_bundle(copy)


def test_a_model_output_that_is_not_finite_is_an_error_for_that_image(bundles: Path) -> None:
    engine = Engine.from_bundle(bundles / "float32_head")
    image = training_like(bundles)[0]
    original = engine.backend.run
    engine.backend.run = lambda batch: original(batch) * np.nan
    classifier = Classifier(engine)
    with pytest.raises(BrainEdgeError, match=rf"{image.name}: the model's output is not finite"):
        classifier.classify(image)
    results = dict(classifier.classify_many([image]))
    assert isinstance(results[image], BrainEdgeError)


def test_top_k_below_one_is_refused(bundles: Path) -> None:
    engine = Engine.from_bundle(bundles / "int8")
    with pytest.raises(BrainEdgeError, match="top_k must be at least 1, got 0"):
        engine.classify(training_like(bundles)[0], top_k=0)
    with pytest.raises(BrainEdgeError, match="top_k must be at least 1"):
        next(engine.stream([(0, training_like(bundles)[0])], top_k=0))
    with pytest.raises(BrainEdgeError, match="top_k must be a whole number of at least 1, got 0"):
        ClassifierOptions(top_k=0)
