"""Class-activation maps from the bundle's head: the API, the overlays, and brainedge-classify --explain.

The tiny head bundles (tests/make_tiny_bundles.py) classify colour squares; their maps are checked
against their definition here, and against Grad-CAM from TensorFlow in tests/test_class_maps.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brainedge.edge_runtime.classifier import Classifier
from brainedge.edge_runtime.cli import main as classify_main
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.explain import VIRIDIS, overlay, upsample
from brainedge.edge_runtime.preprocess import resize_bilinear


def image_of(bundles: Path, name: str = "red") -> Path:
    return sorted((bundles / "images" / name).glob("*.png"))[0]


@pytest.mark.parametrize("name", ["float32_head", "int8_head"])
def test_the_map_is_the_feature_map_weighted_by_the_class_weights(bundles: Path, name: str) -> None:
    classifier = Classifier.from_bundle(bundles / name)
    prediction = classifier.classify(image_of(bundles), explain=True)
    feature_map = classifier.model_output(classifier.preprocess(image_of(bundles)))[0]
    kernel = classifier.head._layers[0][0]
    top = classifier.class_names.index(prediction.label)
    expected = np.maximum(np.einsum("hwc,c->hw", feature_map.astype(np.float64), kernel[:, top]), 0)
    assert prediction.class_map.shape == feature_map.shape[:2] == classifier.head.spec.feature_map[:2]
    np.testing.assert_allclose(prediction.class_map, expected / expected.max(), atol=1e-12)
    assert prediction.class_map.max() == 1.0 and prediction.class_map.min() >= 0.0


def test_maps_are_optional_and_not_part_of_the_answer(bundles: Path) -> None:
    classifier = Classifier.from_bundle(bundles / "float32_head")
    plain, explained = (classifier.classify(image_of(bundles), explain=e) for e in (False, True))
    assert plain.class_map is None and explained.class_map is not None
    assert plain == explained  # the map is an extra, like the latency


def test_a_bundle_without_a_head_cannot_explain(bundles: Path) -> None:
    with pytest.raises(BrainEdgeError, match="no head to draw class-activation maps"):
        Classifier.from_bundle(bundles / "float32").classify(image_of(bundles), explain=True)


def test_upsampling_follows_the_preprocessing_resize() -> None:
    small = np.array([[0.0, 1.0], [0.5, 0.25]])
    big = upsample(small, 6, 8)
    np.testing.assert_allclose(big, resize_bilinear(small.astype(np.float32)[..., None], 6, 8)[..., 0])
    assert big.shape == (6, 8) and 0.0 <= big.min() and big.max() <= 1.0


def test_the_overlay_is_the_image_blended_with_viridis() -> None:
    pixels = np.full((120, 160, 3), 200, np.uint8)
    heat = np.zeros((4, 6))
    heat[3, 5] = 1.0  # hottest in the bottom-right corner
    image = np.asarray(overlay(pixels, heat, "glioma 0.97"))
    assert image.shape == pixels.shape
    bottom_right, cold = image[-1, -1].astype(float), image[100, 80].astype(float)
    np.testing.assert_allclose(bottom_right, 0.55 * 200 + 0.45 * VIRIDIS[255], atol=1.0)
    np.testing.assert_allclose(cold, 0.55 * 200 + 0.45 * VIRIDIS[0], atol=1.0)
    assert (image[:4, :4] == 0).all() and (image[:24, :80] >= 250).any()  # the caption's box and its text


def test_classify_explain_writes_one_overlay_per_image(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = tmp_path / "in"
    for name in ("red", "green"):
        (images / name).mkdir(parents=True)
        shutil.copy(image_of(bundles, name), images / name / "scan.png")  # two images of one name
    out = tmp_path / "overlays"
    code = classify_main(["--bundle", str(bundles / "int8_head"), "--explain", str(out), str(images)])
    assert code == 0, capsys.readouterr().err
    written = sorted(path.name for path in out.iterdir())
    assert written == ["scan-2.png", "scan.png"]
    for path in out.iterdir():
        with Image.open(path) as overlay_image:
            assert overlay_image.size == (32, 32) and overlay_image.mode == "RGB"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bundle", "{bundles}/int8"], "--explain: this bundle has no head"),
        (["--model", "{bundles}/int8/model.tflite", "--labels", "{bundles}/int8/labels.txt"], "needs a --bundle"),
    ],
)
def test_explain_without_a_head_is_one_line(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    argv = [a.format(bundles=bundles) for a in args] + ["--explain", str(tmp_path / "o"), str(image_of(bundles))]
    assert classify_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_explain_into_a_file_is_refused_before_any_work(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    argv = ["--bundle", str(bundles / "int8_head"), "--explain", str(tmp_path / "a_file"), str(image_of(bundles))]
    assert classify_main(argv) == 2
    assert "a_file" in capsys.readouterr().err
