"""Class-activation maps checked, not just drawn (issue 18).

- The synthetic generator says where each lesion was drawn, without changing a single image.
- benchmarks/studies/class_maps.py on a trained and exported run: the bundles' maps equal
  Grad-CAM from TensorFlow, survive int8, change when the weights are randomized, and point
  at the lesion.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

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
    from PIL import Image

    root = generate_dataset(tmp_path / "data", images_per_class=2, size=48, seed=3)
    items = list(generate_slices(images_per_class=2, size=48, seed=3))
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*.jpg")) == sorted(str(i.relative_path) for i in items)
    for item in items:
        with Image.open(root / item.relative_path) as image:
            assert image.mode == "L" and image.size == (48, 48)
            assert np.abs(np.asarray(image, float) - item.pixels).mean() < 3  # JPEG quality 92
