"""Synthetic MRI-like slices, so the demo and the tests need no download.

Each image is a head seen in an axial slice: a bright skull ring, grey brain tissue with
texture and noise. The tumour classes differ the way the real ones tend to:
- glioma: an irregular, bright-rimmed mass inside one hemisphere;
- meningioma: a round, evenly bright mass pressed against the skull;
- pituitary: a small bright spot low and central (the sella);
- notumor: no lesion.
Position, size, rotation and contrast vary per image, so a model has to learn the shape
and place of the lesion rather than memorise pixels.

``render_slice_with_mask`` also says where the lesion was drawn, so class-activation maps can be
checked against the truth (the pointing game of ``benchmarks/studies/class_maps.py``);
``generate_slices`` replays ``generate_dataset`` image by image, masks included.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

CLASS_NAMES = ("glioma", "meningioma", "notumor", "pituitary")


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    return np.meshgrid(coords, coords)  # x, y in [-1, 1]


def _ellipse(x: np.ndarray, y: np.ndarray, cx: float, cy: float, rx: float, ry: float, angle: float) -> np.ndarray:
    """Normalised radius: < 1 inside the ellipse."""
    cos, sin = np.cos(angle), np.sin(angle)
    dx, dy = x - cx, y - cy
    u, v = (dx * cos + dy * sin) / rx, (-dx * sin + dy * cos) / ry
    return np.sqrt(u * u + v * v)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    coarse = rng.random((cells, cells)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse, mode="F").resize((size, size), Image.BICUBIC))


def render_slice(label: str, rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """One grayscale uint8 slice of the given class."""
    return render_slice_with_mask(label, rng, size)[0]


def render_slice_with_mask(label: str, rng: np.random.Generator, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """One grayscale uint8 slice and its lesion mask (bool, True where the lesion was drawn; all
    False for notumor). The slice is the one ``render_slice`` makes from the same generator state,
    and the generator is left in the same state too."""
    x, y = _grid(size)
    angle = rng.uniform(-0.3, 0.3)
    head_rx, head_ry = rng.uniform(0.70, 0.82), rng.uniform(0.80, 0.92)
    head = _ellipse(x, y, 0, 0, head_rx, head_ry, angle)
    brain = head < 0.90
    image = np.zeros((size, size), np.float32)
    image[(head >= 0.90) & (head < 1.0)] = rng.uniform(0.75, 0.95)  # skull
    tissue = 0.35 + 0.15 * _smooth_noise(rng, size, 6) + 0.08 * _smooth_noise(rng, size, 24)
    image[brain] = tissue[brain] * rng.uniform(0.85, 1.15)
    ventricles = _ellipse(x, y, 0, rng.uniform(-0.1, 0.05), 0.12, 0.28, angle) < 1
    image[ventricles & brain] *= 0.45
    mask = _add_lesion(image, label, x, y, head_rx, head_ry, angle, rng)
    image += rng.normal(0, 0.03, image.shape).astype(np.float32)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8), mask


def _add_lesion(
    image: np.ndarray,
    label: str,
    x: np.ndarray,
    y: np.ndarray,
    head_rx: float,
    head_ry: float,
    angle: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw the class's lesion into ``image``; returns where it was drawn (bool, same shape)."""
    if label == "notumor":
        return np.zeros(image.shape, bool)
    if label == "glioma":
        side = rng.choice([-1, 1])
        cx, cy = side * rng.uniform(0.2, 0.4), rng.uniform(-0.4, 0.2)
        radius = _ellipse(x, y, cx, cy, rng.uniform(0.18, 0.26), rng.uniform(0.15, 0.22), rng.uniform(0, 3))
        radius = radius + 0.25 * (_smooth_noise(rng, image.shape[0], 10) - 0.5)  # irregular edge
        image[(radius < 1.0) & (radius >= 0.7)] = rng.uniform(0.8, 0.95)  # enhancing rim
        image[radius < 0.7] = rng.uniform(0.2, 0.3)  # necrotic core
        return radius < 1.0
    elif label == "meningioma":
        theta = rng.uniform(0, 2 * np.pi)
        cx, cy = 0.72 * head_rx * np.cos(theta), 0.72 * head_ry * np.sin(theta)
        size = rng.uniform(0.14, 0.2)
        mask = _ellipse(x, y, cx, cy, size, size, 0) < 1
        image[mask] = rng.uniform(0.75, 0.9)
        return mask
    elif label == "pituitary":
        cx, cy = rng.uniform(-0.05, 0.05), rng.uniform(0.45, 0.55)
        size = rng.uniform(0.09, 0.13)
        mask = _ellipse(x, y, cx, cy, size * 1.3, size, angle) < 1
        image[mask] = rng.uniform(0.8, 0.95)
        return mask
    raise ValueError(f"unknown synthetic class {label!r}; expected one of {CLASS_NAMES}")


@dataclass(frozen=True)
class SyntheticSlice:
    """One image of ``generate_dataset``: where it goes, its pixels and its lesion mask."""

    label: str
    index: int
    pixels: np.ndarray
    mask: np.ndarray

    @property
    def relative_path(self) -> Path:
        return Path(self.label) / f"{self.label}_{self.index:04d}.jpg"


def generate_slices(
    images_per_class: int = 150, size: int = 128, seed: int = 0, class_names: tuple[str, ...] = CLASS_NAMES
) -> Iterator[SyntheticSlice]:
    """The slices ``generate_dataset`` writes with these arguments, in its order, masks included
    (one generator for all classes: a class's images depend on how many the classes before it have)."""
    rng = np.random.default_rng(seed)
    for label in class_names:
        for index in range(images_per_class):
            pixels, mask = render_slice_with_mask(label, rng, size)
            yield SyntheticSlice(label, index, pixels, mask)


def generate_dataset(
    root: Path, images_per_class: int = 150, size: int = 128, seed: int = 0, class_names: tuple[str, ...] = CLASS_NAMES
) -> Path:
    """Write ROOT/<class>/<class>_NNNN.jpg (grayscale JPEG, like the Kaggle data); returns ROOT."""
    for label in class_names:
        (root / label).mkdir(parents=True, exist_ok=True)
    for item in generate_slices(images_per_class, size, seed, class_names):
        Image.fromarray(item.pixels, mode="L").save(root / item.relative_path, quality=92)
    return root
