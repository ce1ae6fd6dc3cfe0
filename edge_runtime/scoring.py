"""Score a bundle on a labelled split: the one way its accuracy is computed, and which test images count.

A Kaggle ``Testing/`` folder kept as the test split holds images with a near-duplicate in the
training images (flagged ``leaked`` in the manifest); scored on them, a bundle is partly graded on
what its model has already seen. ``labelled_split`` leaves them out unless the caller asks for them
(``include_leaked=True``) and counts them, for every caller alike: export's verification and
``export.evaluate``, the demo, and the benchmark harness (whose runner classifies in a child process
and hands back predictions, scored here by ``score_predictions``). No TensorFlow.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from brainedge.edge_runtime.bundle import Bundle
from brainedge.edge_runtime.engine import BatchOutputs, Engine
from brainedge.edge_runtime.manifest import Manifest
from brainedge.edge_runtime.metrics import accuracy, wilson_interval
from brainedge.edge_runtime.preprocess import to_input_tensor

UNREADABLE = -1
"""The prediction of an image that could not be read: never a class, so it counts as wrong."""


@dataclass(frozen=True)
class LabelledSplit:
    """The images of one manifest split that a score counts, with their true classes."""

    split: str
    paths: list[Path]
    labels: np.ndarray
    """Class indices in ``class_names``' order (the manifest's sorted labels)."""
    class_names: list[str]
    leaked_left_out: int
    """Test images left out for a near-duplicate in train or val (0 when they were asked for)."""


def labelled_split(manifest: Manifest, split: str, include_leaked: bool = False) -> LabelledSplit:
    """A split's images and labels in manifest order, leaked test images left out unless asked for.

    Args:
        manifest: the run's or the benchmark's split manifest.
        split: "train", "val" or "test" (only test images are ever flagged leaked).
        include_leaked: keep the leaked test images too (a figure to be labelled as such).

    Returns:
        The split, with how many leaked images it left out.

    Raises:
        BrainEdgeError: an unknown split name.
    """
    files = manifest.files(split, include_leaked=include_leaked)
    left_out = 0 if include_leaked else len(manifest.files(split, include_leaked=True)) - len(files)
    return LabelledSplit(
        split,
        [path for path, _ in files],
        np.array([label for _, label in files], dtype=int),
        manifest.class_names(),
        left_out,
    )


@dataclass(frozen=True)
class Score:
    """Predictions against the true classes: accuracy, its 95% interval and the counts behind it."""

    predictions: np.ndarray
    """Class index per image, ``UNREADABLE`` where it could not be read."""
    labels: np.ndarray
    correct: np.ndarray
    """Per image: the prediction is the true class."""
    accuracy: float
    accuracy_interval: tuple[float, float]
    count: int
    unreadable: int
    leaked_left_out: int | None = None
    """How many leaked test images the split left out (None: not a manifest split)."""


def score_predictions(
    predictions: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray, leaked_left_out: int | None = None
) -> Score:
    """Score class predictions against the true classes.

    Args:
        predictions: one class index per image, ``UNREADABLE`` for an image that could not be read.
        labels: the true class indices, in the same order.
        leaked_left_out: carried into the result, from ``LabelledSplit.leaked_left_out``.

    Returns:
        Accuracy (NaN for no images), its Wilson 95% interval, per-image correctness and counts.
    """
    predicted, truth = np.asarray(predictions, dtype=int), np.asarray(labels, dtype=int)
    correct = predicted == truth
    return Score(
        predicted,
        truth,
        correct,
        accuracy(predicted, truth),
        wilson_interval(int(correct.sum()), len(truth)),
        len(truth),
        int((predicted == UNREADABLE).sum()),
        leaked_left_out,
    )


@dataclass(frozen=True)
class BundleScore:
    """A bundle's outputs on labelled images and their score; per-image times when asked for."""

    outputs: BatchOutputs
    """One row per image, uncalibrated unless asked (the Keras model it is compared with has no temperature)."""
    score: Score
    invoke_ms: list[float] = field(default_factory=list)
    """The model and its head, per image."""
    preprocess_and_invoke_ms: list[float] = field(default_factory=list)
    """Preprocessing (of the already decoded image) and the above."""


def bundle_outputs(
    bundle: Path | Bundle | Engine, images: Sequence[np.ndarray], calibrated: bool = False
) -> BatchOutputs:
    """What the device computes for decoded images, one row per image: the bundle's own preprocessing,
    interpreter and head. Uncalibrated unless asked: the Keras model it is compared with has no temperature."""
    return _run(_engine(bundle), images, calibrated)[0]


def score_bundle(
    bundle: Path | Bundle | Engine,
    images: Sequence[np.ndarray],
    labels: np.ndarray,
    leaked_left_out: int | None = None,
    calibrated: bool = False,
) -> BundleScore:
    """Run a bundle over a labelled split's decoded images and score its answers.

    Args:
        bundle: the bundle's folder, opened bundle or loaded engine.
        images: the split's images, decoded (uint8, H x W x 3), in ``labels``' order.
        labels: their true classes (``LabelledSplit.labels``).
        leaked_left_out: how many leaked test images the split left out, carried into the score.
        calibrated: apply the bundle's temperature to the probabilities.

    Returns:
        The outputs, the score of their top-1 answers (from the logits where there are any), and each
        image's preprocessing and inference time.

    Raises:
        BrainEdgeError: the bundle cannot be opened, or its model's output is not finite.
    """
    outputs, invoke_ms, total_ms = _run(_engine(bundle), images, calibrated)
    # Top-1 from the logits where the bundle gives them: exact, where float32 probabilities could tie.
    answers = outputs.probabilities if outputs.logits is None else outputs.logits
    score = score_predictions(answers.argmax(1), labels, leaked_left_out)
    return BundleScore(outputs, score, invoke_ms, total_ms)


def _engine(bundle: Path | Bundle | Engine) -> Engine:
    return bundle if isinstance(bundle, Engine) else Engine.from_bundle(bundle)


def _run(
    engine: Engine, images: Sequence[np.ndarray], calibrated: bool
) -> tuple[BatchOutputs, list[float], list[float]]:
    rows, invoke_ms, total_ms = [], [], []
    for image in images:
        started = time.perf_counter()
        tensor = to_input_tensor(image, engine.input_spec)
        invoked = time.perf_counter()
        rows.append(engine.run(tensor, calibrated))
        done = time.perf_counter()
        invoke_ms.append((done - invoked) * 1e3)
        total_ms.append((done - started) * 1e3)
    outputs = BatchOutputs(
        *(
            None if getattr(rows[0], name) is None else np.concatenate([getattr(row, name) for row in rows])
            for name in ("probabilities", "logits", "features", "ood_scores")
        )
    )
    return outputs, invoke_ms, total_ms
