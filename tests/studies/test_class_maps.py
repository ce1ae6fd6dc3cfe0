"""Class-activation maps checked, not just drawn (issue 18).

- The synthetic generator says where each lesion was drawn, without changing a single image.
- benchmarks/studies/class_maps.py on a trained and exported run: the bundles' maps equal
  Grad-CAM from TensorFlow, survive int8, change when the weights are randomized, and point
  at the lesion.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brainedge.benchmarks.studies.class_maps import (
    TILE,
    HeldOut,
    default_tolerance,
    dilate,
    pearson,
    pointing_hit,
    ranks,
    spearman,
    synthetic_masks,
)
from brainedge.benchmarks.studies.class_maps import main as class_maps_main
from brainedge.edge_runtime.explain import overlay
from brainedge.edge_runtime.preprocess import decode_pixels
from brainedge.train.synthetic import (
    CLASS_NAMES,
    generate_dataset,
    generate_slices,
    render_slice,
    render_slice_with_mask,
)

# sha256 (first 16 hex digits) of render_slice(label, np.random.default_rng(seed), size).tobytes(),
# recorded with the generator as it was before it returned masks (commit 443f87d).
RENDERED_BEFORE_MASKS = {
    ("glioma", 0, 64): "92c2a11bc14c4b2b",
    ("meningioma", 0, 64): "dfef322d9f3772c7",
    ("notumor", 0, 64): "a2311e6cc000f8d3",
    ("pituitary", 0, 64): "d5290899ee74f2fe",
    ("glioma", 0, 128): "22e155b7f3ae9961",
    ("meningioma", 0, 128): "ac1b0a101951f801",
    ("notumor", 0, 128): "0147ce547ea04544",
    ("pituitary", 0, 128): "aa31133334e796a4",
    ("glioma", 1, 64): "918372a1e37d4942",
    ("meningioma", 1, 64): "554b115040d75acc",
    ("notumor", 1, 64): "2db325b5cb547992",
    ("pituitary", 1, 64): "bcdf7b8785c637cb",
    ("glioma", 7, 128): "fb85da4dc297b3a1",
    ("meningioma", 7, 128): "5cc2170ebdd087e1",
    ("notumor", 7, 128): "3893b36e19041225",
    ("pituitary", 7, 128): "a7672c2b65dc7153",
    ("glioma", 20240601, 64): "6a890e505596a622",
    ("meningioma", 20240601, 64): "c25c4860fd6509ee",
    ("notumor", 20240601, 64): "46daeb541f5a142d",
    ("pituitary", 20240601, 64): "51858479ca4a17ff",
}
ROOT = Path(__file__).resolve().parents[2]
SEQUENCE_BEFORE_MASKS = "c05b982db80197ef"
"""Three slices of each class from one generator (seed 0, 64 px), as generate_dataset draws them."""


def _digest(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


@pytest.mark.parametrize(("label", "seed", "size"), sorted(RENDERED_BEFORE_MASKS))
def test_slices_are_the_same_bytes_as_before_masks(label: str, seed: int, size: int) -> None:
    assert _digest(render_slice(label, np.random.default_rng(seed), size)) == RENDERED_BEFORE_MASKS[label, seed, size]
    pixels, _ = render_slice_with_mask(label, np.random.default_rng(seed), size)
    assert _digest(pixels) == RENDERED_BEFORE_MASKS[label, seed, size]


def test_a_shared_generator_draws_the_same_sequence_as_before() -> None:
    rng = np.random.default_rng(0)
    assert _digest(*(render_slice(label, rng, 64) for label in CLASS_NAMES for _ in range(3))) == SEQUENCE_BEFORE_MASKS
    replayed = [item.pixels for item in generate_slices(images_per_class=3, size=64, seed=0)]
    assert _digest(*replayed) == SEQUENCE_BEFORE_MASKS


def test_the_mask_is_where_the_lesion_was_drawn() -> None:
    for seed in range(6):
        for label in CLASS_NAMES:
            with_lesion, mask = render_slice_with_mask(label, np.random.default_rng(seed), 96)
            assert mask.shape == with_lesion.shape and mask.dtype == bool
            if label == "notumor":
                assert not mask.any()
                continue
            # The same slice without its lesion: the generator replayed, the lesion's draws skipped.
            # Outside the mask the pixels agree up to the noise's different draws; inside they differ.
            share = mask.mean()
            assert 0.005 < share < 0.08, (label, seed, share)
            without = render_slice("notumor", np.random.default_rng(seed), 96).astype(float)
            inside = np.abs(with_lesion.astype(float) - without)[mask].mean()
            outside = np.abs(with_lesion.astype(float) - without)[~mask].mean()
            assert inside > 3 * outside + 15, (label, seed, inside, outside)


def test_generate_dataset_writes_the_replayed_slices(tmp_path) -> None:
    root = generate_dataset(tmp_path / "data", images_per_class=2, size=48, seed=3)
    items = list(generate_slices(images_per_class=2, size=48, seed=3))
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*.jpg")) == sorted(str(i.relative_path) for i in items)
    for item in items:
        with Image.open(root / item.relative_path) as image:
            assert image.mode == "L" and image.size == (48, 48)
            assert np.abs(np.asarray(image, float) - item.pixels).mean() < 3  # JPEG quality 92


# --- the study's measures, without TensorFlow ---------------------------------------------------


def test_rank_correlation_counts_ties_and_ignores_monotone_changes() -> None:
    np.testing.assert_array_equal(ranks(np.array([3.0, 0.0, 0.0, 5.0, 0.0])), [3.0, 1.0, 1.0, 4.0, 1.0])
    a = np.random.default_rng(0).random((6, 6))
    assert spearman(a, a**3 + 2) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert pearson(a, 5 * a) == pytest.approx(1.0)
    empty = np.zeros((6, 6))
    assert pearson(empty, empty) == 1.0 and pearson(empty, a) == 0.0 and spearman(a, empty) == 0.0


def test_dilation_is_a_disk_of_the_radius() -> None:
    mask = np.zeros((21, 21), bool)
    mask[10, 10] = True
    grown = dilate(mask, 4.5)
    rows, columns = np.mgrid[:21, :21]
    np.testing.assert_array_equal(grown, (rows - 10) ** 2 + (columns - 10) ** 2 <= 4.5**2)
    assert dilate(mask, 0).sum() == 1


def test_the_pointing_game_looks_at_the_upsampled_maximum() -> None:
    """A 4x4 map's hot cell (2, 1) is centred on pixels 19-20 x 11-12 of a 32x32 image once upsampled."""
    heat = np.zeros((4, 4))
    heat[2, 1] = 1.0
    lesion = np.zeros((32, 32), bool)
    lesion[17:22, 9:14] = True
    assert pointing_hit(heat, lesion, 3.0) == (True, True, (19, 11))
    beside = np.zeros((32, 32), bool)
    beside[17:22, 15:20] = True  # 4 px to the right of the peak
    assert pointing_hit(heat, beside, 4.0) == (False, True, (19, 11))
    assert pointing_hit(heat, beside, 3.9)[1] is False
    assert default_tolerance(224, 224) == 15 and default_tolerance(96, 128) == pytest.approx(15 * 96 / 224)


def _test_images(root, files: list[str], class_names: list[str]) -> HeldOut:
    paths = [root / name for name in files]
    labels = np.array([class_names.index(name.split("/")[0]) for name in files])
    return HeldOut(paths, labels, [decode_pixels(path) for path in paths], class_names, root)


def test_masks_are_found_for_the_generators_images_only(tmp_path) -> None:
    root = generate_dataset(tmp_path / "data", images_per_class=4, size=48, seed=5)
    files = ["glioma/glioma_0003.jpg", "pituitary/pituitary_0001.jpg", "notumor/notumor_0000.jpg"]
    images = _test_images(root, files, list(CLASS_NAMES))
    masks, why = synthetic_masks(images, seed=5)
    assert masks is not None and "seed 5" in why
    truth = {item.relative_path: item.mask for item in generate_slices(4, 48, 5)}
    for name in files:
        np.testing.assert_array_equal(masks[root / name], truth[Path(name)])
    assert not masks[root / "notumor/notumor_0000.jpg"].any()
    masks, why = synthetic_masks(images, seed=6)
    assert masks is None and "--synthetic-seed" in why
    (root / "glioma" / "glioma_0003.jpg").rename(root / "glioma" / "scan.jpg")
    renamed = _test_images(root, ["glioma/scan.jpg"], list(CLASS_NAMES))
    assert synthetic_masks(renamed, seed=5)[0] is None


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: [str(tmp / "run"), str(tmp / "export")], "no such bundle; export it with brainedge-export"),
        (lambda tmp: [str(tmp / "run"), str(tmp / "bundles")], "not a training run directory"),
        (lambda tmp: [str(tmp / "run"), str(tmp / "bundles"), "--images", "0"], "--images must be at least 1"),
    ],
)
def test_user_errors_are_one_line(tmp_path, capsys, make, message) -> None:
    for name in ("tflite_float32", "tflite_int8_ptq"):
        (tmp_path / "bundles" / name).mkdir(parents=True)
    code = class_maps_main([*make(tmp_path), "--out", str(tmp_path / "out" / "maps")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_gallery_tile_is_the_whole_overlay() -> None:
    """The sheet pastes tiles TILE px apart: an overlay drawn any larger would lose its right and lower parts."""
    assert overlay(np.zeros((TILE, TILE, 3), np.uint8), np.ones((3, 3)), "x").width == TILE


# --- the study on a trained and exported run (TensorFlow in subprocesses) -----------------------


def _python(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """make_class_map_run.py's run, exported to float32 and int8 PTQ, through the study."""
    work = tmp_path_factory.mktemp("class_maps")
    done = _python(str(ROOT / "tests" / "make_class_map_run.py"), str(work))
    assert done.returncode == 0, done.stderr[-3000:]
    done = _python(
        "-m", "brainedge.export", str(work / "run"), "--out", str(work / "bundles"), "--representative", "32"
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    out = work / "report" / "class_maps"
    done = _python(
        "-m", "brainedge.benchmarks.studies.class_maps", str(work / "run"), str(work / "bundles"), "--out", str(out)
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return json.loads(out.with_suffix(".json").read_text()), out


@pytest.mark.slow
@pytest.mark.tensorflow
def test_the_bundles_maps_are_grad_cam(study: tuple[dict, Path]) -> None:
    record, _ = study
    equivalence = record["equivalence"]
    assert equivalence["float_vs_grad_cam"]["count"] == record["images"]["count"] >= 40
    assert equivalence["float_vs_grad_cam"]["min"] >= 0.99
    assert equivalence["int8_vs_float"]["mean"] >= 0.95


@pytest.mark.slow
@pytest.mark.tensorflow
def test_randomized_weights_change_the_maps(study: tuple[dict, Path]) -> None:
    control, *stages = record_stages = study[0]["randomization"]["stages"]
    assert control["layers"] == [] and control["spearman"]["min"] == pytest.approx(1.0)  # the measure works
    assert stages[0]["layers"] == ["head_probabilities"] and len(record_stages) == 5
    assert [len(stage["layers"]) for stage in stages] == sorted({len(stage["layers"]) for stage in stages})
    for stage in stages:
        assert stage["spearman"]["mean"] <= 0.5, stage


@pytest.mark.slow
@pytest.mark.tensorflow
def test_the_maps_point_at_the_lesion(study: tuple[dict, Path]) -> None:
    pointing = study[0]["pointing"]
    assert pointing["available"], pointing["why"]
    for key in ("float", "int8"):
        game = pointing[key]
        assert game["images"] >= 40 and game["tolerance_px"] == pytest.approx(15 / 224 * 96)
        assert game["hit_rate"] >= 0.8, game
        assert game["random_point_hit_rate"] < 0.15


@pytest.mark.slow
@pytest.mark.tensorflow
def test_the_record_says_what_maps_cost_and_shows_them(study: tuple[dict, Path]) -> None:
    record, out = study
    assert all(check["met"] for check in record["acceptance"]), record["acceptance"]
    for key in ("float", "int8"):
        assert 0 < record["cost"][key]["map_and_upsample_ms"] and 0 < record["cost"][key]["classify_ms"]
    assert record["size"]["extra_bytes"] == 0 and record["size"]["head_file_bytes"] > 0
    text = out.with_suffix(".md").read_text()
    assert "## Pointing game" in text and "**no**" not in text
    with Image.open(out.with_suffix(".png")) as sheet:
        assert sheet.width == 3 * TILE and 4 * TILE < sheet.height < 4 * (TILE + 60)  # each image under its caption
    assert len(record["gallery"]["images"]) == 12
