"""tf.data input pipeline that applies the shared preprocessing contract.

Decoding goes through the edge runtime's own decoder (same bytes on the device as in
training, including 16-bit, palette and EXIF handling); resize and normalization are the
TF ops the contract names, and a golden test holds them equal to the numpy runtime.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge_runtime.metadata import InputSpec
from edge_runtime.preprocess import decode_rgb
from train.tf_setup import keras, tf

AUTOTUNE = tf.data.AUTOTUNE


def _decode(path: bytes | np.ndarray) -> np.ndarray:
    name = path.item() if isinstance(path, np.ndarray) else path  # eager mode passes a 0-d array
    return decode_rgb(name.decode())


def decode_image(path: tf.Tensor) -> tf.Tensor:
    """File path → HxWx3 uint8, through the edge runtime's decoder."""
    rgb = tf.numpy_function(_decode, [path], tf.uint8, stateful=False)
    rgb.set_shape([None, None, 3])
    return rgb


def resize(rgb: tf.Tensor, spec: InputSpec) -> tf.Tensor:
    """The contract's resize: bilinear, half-pixel centres, no antialias; float pixels 0..255."""
    return tf.image.resize(tf.cast(rgb, tf.float32), (spec.height, spec.width),
                           method="bilinear", antialias=False)


def normalize(pixels: tf.Tensor, spec: InputSpec) -> tf.Tensor:
    """The contract's (x - mean) / std."""
    return (pixels - tf.constant(spec.mean, tf.float32)) / tf.constant(spec.std, tf.float32)


def preprocess(rgb: tf.Tensor, spec: InputSpec) -> tf.Tensor:
    """Decoded uint8 RGB → the model's float input, exactly as the edge runtime computes it."""
    return normalize(resize(rgb, spec), spec)


def augmenter(seed: int) -> keras.Sequential:
    """MRI-appropriate augmentation on 0..255 pixels: left-right flips, small rotations and
    zoom, contrast jitter (clipped to 0..255).

    No vertical flips: axial slices have a fixed anterior-posterior orientation. Pixels
    uncovered by rotation or zoom are filled with black, the background of a slice.
    """
    exact = {"dtype": "float32"}  # input pixels stay float32 under a mixed_float16 policy (GPU)
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed, **exact),
        keras.layers.RandomRotation(0.03, fill_mode="constant", fill_value=0.0, seed=seed + 1, **exact),
        keras.layers.RandomZoom(0.1, fill_mode="constant", fill_value=0.0, seed=seed + 2, **exact),
        keras.layers.RandomContrast(0.15, seed=seed + 3, **exact),
    ], name="augmentation")


def make_dataset(files: Sequence[tuple[Path, int]], spec: InputSpec, num_classes: int,
                 batch_size: int, training: bool, seed: int = 0, label_smoothing: float = 0.0
                 ) -> tf.data.Dataset:
    """(image, one-hot label) batches; shuffled and augmented when ``training``."""
    paths = [str(path) for path, _ in files]
    labels = [label for _, label in files]
    dataset = tf.data.Dataset.from_tensor_slices((paths, labels))
    dataset = dataset.map(lambda path, label: (decode_image(path), label),
                          num_parallel_calls=AUTOTUNE).cache()
    if training:
        dataset = dataset.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(lambda rgb, label: (resize(rgb, spec), label), num_parallel_calls=AUTOTUNE)
    dataset = dataset.batch(batch_size, drop_remainder=False)
    if training:
        augment = augmenter(seed)
        dataset = dataset.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=AUTOTUNE)
    smoothing = label_smoothing if training else 0.0
    dataset = dataset.map(
        lambda x, y: (normalize(x, spec),
                      tf.one_hot(y, num_classes) * (1 - smoothing) + smoothing / num_classes),
        num_parallel_calls=AUTOTUNE)
    return dataset.prefetch(AUTOTUNE)
