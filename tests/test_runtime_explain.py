"""Class-activation maps from the bundle's head: the API, the overlays, and brainedge-classify --explain.

The tiny head bundles (tests/make_tiny_bundles.py) classify colour squares; their maps are checked
against their definition here, and against Grad-CAM from TensorFlow in tests/test_class_maps.py.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brainedge.edge_runtime.classifier import Classifier, ClassifierOptions
from brainedge.edge_runtime.cli import main as classify_main
from brainedge.edge_runtime.engine import Engine
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.explain import VIRIDIS, blend, overlay, png_bytes, upsample
from brainedge.edge_runtime.preprocess import resize_bilinear


def image_of(bundles: Path, name: str = "red") -> Path:
    return sorted((bundles / "images" / name).glob("*.png"))[0]


@pytest.mark.parametrize("name", ["float32_head", "int8_head"])
def test_the_map_is_the_feature_map_weighted_by_the_class_weights(bundles: Path, name: str) -> None:
    classifier = Engine.from_bundle(bundles / name)
    prediction = classifier.classify(image_of(bundles), explain=True)
    feature_map = classifier.model_output(classifier.preprocess(image_of(bundles)))[0]
    kernel = classifier.head._layers[0][0]
    top = classifier.class_names.index(prediction.label)
    expected = np.maximum(np.einsum("hwc,c->hw", feature_map.astype(np.float64), kernel[:, top]), 0)
    assert prediction.class_map.shape == feature_map.shape[:2] == classifier.head.spec.feature_map[:2]
    np.testing.assert_allclose(prediction.class_map, expected / expected.max(), atol=1e-12)
    assert prediction.class_map.max() == 1.0 and prediction.class_map.min() >= 0.0


def test_maps_are_optional_and_not_part_of_the_answer(bundles: Path) -> None:
    plain, explained = (
        Classifier.from_bundle(bundles / "float32_head", ClassifierOptions(explain=e)).classify(image_of(bundles))
        for e in (False, True)
    )
    assert plain.class_map is None and explained.class_map is not None
    assert plain == explained  # the map is an extra, like the latency


def test_a_bundle_without_a_head_cannot_explain(bundles: Path) -> None:
    with pytest.raises(BrainEdgeError, match="explain needs a head of one dense layer"):
        Classifier.from_bundle(bundles / "float32", ClassifierOptions(explain=True)).classify(image_of(bundles))


def test_upsampling_follows_the_preprocessing_resize() -> None:
    small = np.array([[0.0, 1.0], [0.5, 0.25]])
    big = upsample(small, 6, 8)
    np.testing.assert_allclose(big, resize_bilinear(small.astype(np.float32)[..., None], 6, 8)[..., 0])
    assert big.shape == (6, 8) and 0.0 <= big.min() and big.max() <= 1.0


def test_the_blend_is_the_image_with_viridis_over_it() -> None:
    pixels = np.full((120, 160, 3), 200, np.uint8)
    heat = np.zeros((4, 6))
    heat[3, 5] = 1.0  # hottest in the bottom-right corner
    image = blend(pixels, heat)
    assert image.shape == pixels.shape
    np.testing.assert_allclose(image[-1, -1], 0.55 * 200 + 0.45 * VIRIDIS[255].astype(float), atol=1.0)
    np.testing.assert_allclose(image[100, 80], 0.55 * 200 + 0.45 * VIRIDIS[0].astype(float), atol=1.0)


@pytest.mark.parametrize(
    ("height", "width"), [(8, 8), (32, 32), (100, 2000), (300, 400), (3000, 1000), (50, 10000), (3000, 3)]
)
def test_overlays_show_the_whole_image_at_a_readable_size_under_the_whole_caption(height: int, width: int) -> None:
    pixels = np.full((height, width, 3), 128, np.uint8)
    caption = "uncertain: meningioma 0.986"
    drawn = np.asarray(overlay(pixels, np.ones((2, 2)), caption))
    image = (drawn == blend(pixels[:1, :1], np.ones((2, 2)))[0, 0]).all(axis=2)  # where the blended image is
    rows, columns = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    shown = image[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    assert shown.all()  # one rectangle, nothing drawn over it
    assert max(shown.shape) <= 1024 and (min(shown.shape) >= 256 or max(shown.shape) == 1024 or min(shown.shape) < 8)
    assert abs(shown.shape[0] / shown.shape[1] - height / width) < 0.05 * height / width + 1 / shown.shape[1]
    band = drawn[: rows[0]]
    assert 10 < len(band) < 60 and rows[-1] == len(drawn) - 1  # the caption above, the image below
    assert (band >= 250).all(axis=2).sum() > 50 and drawn.shape[1] >= 256  # its text, on a readable width


@pytest.mark.parametrize(
    ("class_map", "message"),
    [
        (None, "classify with explain=True"),
        (np.zeros((0, 0)), "classify with explain=True"),
        (np.full((2, 2), np.nan), "not finite"),
    ],
)
def test_overlay_refuses_a_missing_or_broken_map(class_map: np.ndarray | None, message: str) -> None:
    with pytest.raises(BrainEdgeError, match=message):
        overlay(np.zeros((8, 8, 3), np.uint8), class_map, "x")


def test_an_overlays_text_chunks_escape_a_name_that_is_not_utf8() -> None:
    drawn = overlay(np.zeros((8, 8, 3), np.uint8), np.ones((2, 2)), "glioma 0.9")
    with Image.open(io.BytesIO(png_bytes(drawn, source="scans/a\udcffb.jpg", answer="glioma 0.9"))) as image:
        assert image.text["Source"] == "scans/a\\xffb.jpg"


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
    sources = set()
    for path in out.iterdir():
        with Image.open(path) as overlay_image:
            assert overlay_image.width == 256 and overlay_image.mode == "RGB"  # a 32 px image drawn larger
            sources.add(overlay_image.text["Source"])
            assert overlay_image.text["Answer"].startswith(Path(overlay_image.text["Source"]).parent.name)
    assert sources == {str(images / name / "scan.png") for name in ("red", "green")}
    # a second run never replaces the first one's overlays
    assert classify_main(["--bundle", str(bundles / "int8_head"), "--explain", str(out), str(images / "red")]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["scan-2.png", "scan-3.png", "scan.png"]


@pytest.mark.parametrize("output", ["text", "json", "csv"])
def test_each_answer_names_its_overlay(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], output: str
) -> None:
    out = tmp_path / "overlays"
    image = str(image_of(bundles, "red"))
    code = classify_main(["--bundle", str(bundles / "int8_head"), "--explain", str(out), "--format", output, image])
    printed = capsys.readouterr().out.splitlines()
    assert code == 0 and [path.name for path in out.iterdir()] == ["0.png"]
    named = {
        "text": lambda: printed[0].rsplit("  -> ", 1)[1],
        "json": lambda: json.loads(printed[0])["overlay"],
        "csv": lambda: next(csv.DictReader(printed))["overlay"],
    }[output]()
    assert Path(named) == out / "0.png"


def test_an_overlay_never_replaces_a_file_that_appears_during_the_run(tmp_path: Path) -> None:
    from brainedge.edge_runtime.cli import Overlays

    overlays = Overlays(tmp_path)  # empty when the run starts
    (tmp_path / "scan.png").write_bytes(b"someone else's")
    prediction = _explained_prediction()
    assert overlays.save("in/scan.jpg", prediction) == str(tmp_path / "scan-2.png")
    assert (tmp_path / "scan.png").read_bytes() == b"someone else's"


def _explained_prediction():
    from brainedge.edge_runtime.classifier import Prediction

    pixels = np.full((8, 8, 3), 100, np.uint8)
    return Prediction([("red", 0.9)], uncertain=False, class_map=np.ones((2, 2)), pixels=pixels)


def test_a_mistyped_input_is_said_to_be_missing_not_to_hold_the_overlays(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code = classify_main(["--bundle", str(bundles / "int8_head"), "--explain", "overlays", "scans_typo/"])
    err = capsys.readouterr().err
    assert code != 0 and "scans_typo" in err and "being classified" not in err


@pytest.mark.parametrize("where", ["{images}", "{images}/red", "{images}/red/sub"])
def test_overlays_may_not_land_among_the_images(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    images = tmp_path / "images"
    shutil.copytree(bundles / "images", images)
    out = where.format(images=images)
    before = sorted(str(p) for p in images.rglob("*"))
    for target in (str(images), str(images / "red" / "0.png")):
        code = classify_main(["--bundle", str(bundles / "int8_head"), "--explain", out, target])
        err = capsys.readouterr().err
        if target.endswith(".png") and where == "{images}":
            assert code == 0  # the file's own folder is images/red, not images
            continue
        assert code == 2 and "which is being classified" in err and err.count("\n") == 1
    assert sorted(str(p) for p in images.rglob("*")) == before or where == "{images}"


def test_a_watched_folder_cannot_take_its_own_overlays(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--bundle", str(bundles / "int8_head"), "--watch", str(tmp_path), "--explain", str(tmp_path / "out")]
    assert classify_main([*args, "--max-images", "1"]) == 2
    assert "which is being classified" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--bundle", "{bundles}/int8"],
            "int8: explain needs a head of one dense layer for class-activation maps; it has no head",
        ),
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


def test_a_map_is_of_one_image(bundles: Path) -> None:
    head = Engine.from_bundle(bundles / "float32_head").head
    batch = np.ones((1, *head.spec.feature_map), np.float32)
    with pytest.raises(BrainEdgeError, match="a feature map of one image is"):
        head.class_map(batch, 0)
    assert head.class_map(batch[0], 0).shape == head.spec.feature_map[:2]
