"""Check an exported bundle against the Keras model, through the edge runtime (not TensorFlow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from brainedge.edge_runtime.bundle import Bundle
from brainedge.edge_runtime.classifier import Classifier
from brainedge.edge_runtime.preprocess import to_input_tensor
from brainedge.export.run import LabelledImages


def bundle_probabilities(bundle_dir: Path | Bundle, images: LabelledImages) -> np.ndarray:
    """Probabilities the device would compute: the bundle's own preprocessing and interpreter."""
    classifier = Classifier.from_bundle(bundle_dir)
    rows = [classifier.probabilities(to_input_tensor(image, classifier.input_spec))[0] for image in images.images]
    return np.stack(rows)


def compare(probabilities: np.ndarray, reference: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Accuracy, top-1 agreement with the reference, and probability differences."""
    difference = np.abs(probabilities - reference)
    return {
        "count": int(len(labels)),
        "accuracy": float((probabilities.argmax(1) == labels).mean()),
        "reference_accuracy": float((reference.argmax(1) == labels).mean()),
        "agreement": float((probabilities.argmax(1) == reference.argmax(1)).mean()),
        "mean_abs_diff": float(difference.mean()),
        "max_abs_diff": float(difference.max()),
    }


def verification(
    probabilities: np.ndarray,
    references: dict[str, np.ndarray],
    source: str,
    labels: np.ndarray,
    split: str,
    min_agreement: float,
) -> dict[str, Any]:
    """A bundle's record: against the Keras model it came from, and against the float Keras model."""
    check = compare(probabilities, references[source], labels)
    versus_float = compare(probabilities, references["float"], labels)
    check.update(
        split=split,
        reference=f"keras_{source}",
        min_agreement=min_agreement,
        float_reference_accuracy=versus_float["reference_accuracy"],
        float_agreement=versus_float["agreement"],
        accuracy_drop_points=100 * (versus_float["reference_accuracy"] - check["accuracy"]),
    )
    return check
