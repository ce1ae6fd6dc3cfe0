"""One scoring path: which test images count (leaked ones left out unless asked), and a bundle's score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brainedge.edge_runtime.engine import Engine
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.manifest import Manifest, ManifestRow
from brainedge.edge_runtime.metrics import wilson_interval
from brainedge.edge_runtime.scoring import UNREADABLE, labelled_split, score_bundle, score_predictions


def _row(path: str, label: str, split: str, leaked: bool = False) -> ManifestRow:
    return ManifestRow(path, label, split, path, "0" * 64, 8, 8, leaked)


def _manifest(root: Path) -> Manifest:
    return Manifest(
        root,
        [
            _row("a/1.png", "a", "train"),
            _row("b/2.png", "b", "val"),
            _row("a/3.png", "a", "test"),
            _row("b/4.png", "b", "test", leaked=True),
            _row("b/5.png", "b", "test"),
        ],
    )


def test_leaked_test_images_are_left_out_and_counted_unless_asked_for(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    safe = labelled_split(manifest, "test")
    assert safe.paths == [tmp_path / "a/3.png", tmp_path / "b/5.png"] and safe.labels.tolist() == [0, 1]
    assert safe.leaked_left_out == 1 and safe.class_names == ["a", "b"]
    everything = labelled_split(manifest, "test", include_leaked=True)
    assert len(everything.paths) == 3 and everything.leaked_left_out == 0
    assert labelled_split(manifest, "val").leaked_left_out == 0
    with pytest.raises(BrainEdgeError, match="unknown split 'tests'"):
        labelled_split(manifest, "tests")


def test_a_score_counts_an_unreadable_image_as_wrong() -> None:
    score = score_predictions([0, UNREADABLE, 1, 1], [0, 0, 1, 0], leaked_left_out=2)
    assert score.accuracy == 0.5 and score.count == 4 and score.unreadable == 1
    assert score.correct.tolist() == [True, False, True, False]
    assert score.accuracy_interval == wilson_interval(2, 4) and score.leaked_left_out == 2
    assert np.isnan(score_predictions([], []).accuracy)


def test_a_bundles_score_is_its_top_answers_against_the_labels(bundles: Path) -> None:
    paths = sorted((bundles / "images").rglob("*.png"))
    engine = Engine.from_bundle(bundles / "int8_head")
    images = [np.asarray(Image.open(path).convert("RGB")) for path in paths]
    labels = np.array([engine.class_names.index(path.parent.name) for path in paths])
    wrong = labels.copy()
    wrong[:3] = (wrong[:3] + 1) % len(engine.class_names)  # three labels that the answers cannot match
    right, mislabelled = score_bundle(engine, images, labels, 4), score_bundle(engine, images, wrong)
    expected = [engine.class_names.index(engine.classify(image, top_k=1).label) for image in images]
    assert right.score.predictions.tolist() == expected and right.score.leaked_left_out == 4
    assert right.score.accuracy == np.mean(np.array(expected) == labels)
    assert right.score.correct[:3].all()  # so the three changed labels are three wrong answers more
    assert mislabelled.score.accuracy == pytest.approx(right.score.accuracy - 3 / len(paths))
    assert right.outputs.logits.shape == (len(paths), len(engine.class_names))
    assert len(right.invoke_ms) == len(right.preprocess_and_invoke_ms) == len(paths)
