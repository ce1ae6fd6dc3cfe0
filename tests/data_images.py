"""Small generated datasets for the data-stage tests: distinct slices and near-duplicates of them.

Each base image is smooth random structure (an 8x8 random grid upsampled), so its difference
hash is stable; a near-duplicate is the same image brightened slightly, noised and
re-encoded, a few bits away, as re-exported MRI slices are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def base_image(seed: int, size: int = 64) -> np.ndarray:
    """A distinct grayscale image for each seed."""
    rng = np.random.default_rng(seed)
    coarse = (rng.random((8, 8)) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((size, size), Image.BICUBIC))


def near_duplicate(pixels: np.ndarray, seed: int) -> np.ndarray:
    """The same picture, slightly brighter, a tenth of its pixels off by one."""
    rng = np.random.default_rng(10_000 + seed)
    speckle = rng.integers(-1, 2, pixels.shape) * (rng.random(pixels.shape) < 0.1)
    noisy = pixels.astype(np.int16) + 3 + speckle
    return np.clip(noisy, 0, 255).astype(np.uint8)


def save(pixels: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def make_dataset(root: Path, classes: dict[str, int], duplicates: dict[str, int] | None = None, seed: int = 0) -> Path:
    """ROOT/<class>/img_NNN.png: ``classes[c]`` distinct images, the first ``duplicates[c]`` of them
    with a near-duplicate copy each (``dup_NNN.png``)."""
    duplicates = duplicates or {}
    for class_index, (name, count) in enumerate(sorted(classes.items())):
        for i in range(count):
            pixels = base_image(seed * 100_000 + class_index * 1_000 + i)
            save(pixels, root / name / f"img_{i:03d}.png")
            if i < duplicates.get(name, 0):
                save(near_duplicate(pixels, i), root / name / f"dup_{i:03d}.png")
    return root
