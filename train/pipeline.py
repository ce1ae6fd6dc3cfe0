"""tf.data input pipeline that applies the shared preprocessing contract.

Decoding goes through the edge runtime's own decoder (same bytes on the device as in
training, including 16-bit, palette and EXIF handling); resize and normalization are the
TF ops the contract names, and a golden test holds them equal to the numpy runtime.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.metadata import InputSpec
from brainedge.edge_runtime.preprocess import decode_pixels
from brainedge.train.tf_setup import keras, tf

PARALLEL_CALLS = os.cpu_count() or 1
"""Decode and augmentation threads. A fixed count, not tf.data's AUTOTUNE: measured on the 224 px
split (2 cores), AUTOTUNE ran about one first epoch in three at 770 images/s instead of 1,190
(the decode-and-cache epoch; later epochs were not affected); a fixed count did not, in 9 of 9."""


DECODE_CHUNK = 32
"""Images decoded per Python call in the training pipeline: one call per image cost more than
the decoding of a 224 px JPEG itself (2,800 images/s in tf.data against 5,800 in a plain loop)."""


UNREADABLE: list[str] = []
"""What the decoder refused inside tf.data, which only lets a generic TensorFlow error out."""


def _decode_many(paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    try:
        images = [decode_pixels(path.decode(errors="surrogateescape")) for path in paths]
    except BrainEdgeError as error:
        UNREADABLE.append(str(error))
        raise
    shapes = np.array([image.shape for image in images], np.int32).reshape(-1, 3)
    padded = np.zeros((len(images), *shapes.max(axis=0)), np.uint8)
    for row, image in enumerate(images):
        padded[row, : image.shape[0], : image.shape[1], : image.shape[2]] = image
    return padded, shapes


@contextmanager
def unreadable_images_stop_training() -> Iterator[None]:
    """An image that cannot be decoded stops training with one line naming it, not TensorFlow's traceback.

    Stop rather than skip: the manifest's split and class balance were computed with that image,
    and a silently smaller dataset would change what was measured.
    """
    UNREADABLE.clear()
    try:
        yield
    except tf.errors.OpError:
        if not UNREADABLE:
            raise
        raise BrainEdgeError(
            f"{UNREADABLE[0]}; training stopped: restore the image (or split the data again without it), "
            "then continue with --resume"
        ) from None


def decode_images(paths: tf.data.Dataset) -> tf.data.Dataset:
    """File paths → HxWx3 uint8 images, or HxWx1 for grayscale ones, in order, through the edge
    runtime's decoder, DECODE_CHUNK per Python call.

    Grayscale stays one channel (as on the device): the cache holds a third of the bytes,
    and augmentation and resize work on one channel until the image becomes RGB.
    """

    def decode_chunk(chunk: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        padded, shapes = tf.numpy_function(_decode_many, [chunk], [tf.uint8, tf.int32], stateful=False)
        padded.set_shape([None, None, None, None])
        shapes.set_shape([None, 3])
        return padded, shapes

    chunks = paths.batch(DECODE_CHUNK).map(decode_chunk, num_parallel_calls=PARALLEL_CALLS)
    return chunks.unbatch().map(lambda padded, shape: padded[: shape[0], : shape[1], : shape[2]])


def resize_channels(pixels: tf.Tensor, spec: InputSpec) -> tf.Tensor:
    """The contract's resize (bilinear, half-pixel centres, no antialias) of each channel alone:
    float 0..255 pixels, HxWx1 for a grayscale image, HxWx3 for RGB.

    An image already at the input size is only cast: half-pixel bilinear onto the same grid
    samples every pixel exactly, so skipping the resampling changes no value.
    """
    values = tf.cast(pixels, tf.float32)
    shape = tf.shape(pixels)
    same_size = tf.logical_and(tf.equal(shape[0], spec.height), tf.equal(shape[1], spec.width))
    return tf.cond(
        same_size,
        lambda: values,
        lambda: tf.image.resize(values, (spec.height, spec.width), method="bilinear", antialias=False),
    )


def to_rgb(values: tf.Tensor, spec: InputSpec) -> tf.Tensor:
    """A one-channel image's three equal channels (an RGB one unchanged), with the static shape set."""
    return tf.ensure_shape(tf.broadcast_to(values, (spec.height, spec.width, 3)), (spec.height, spec.width, 3))


def normalize(pixels: tf.Tensor, spec: InputSpec) -> tf.Tensor:
    """The contract's (x - mean) / std."""
    return (pixels - tf.constant(spec.mean, tf.float32)) / tf.constant(spec.std, tf.float32)


class RandomRotationZoom(keras.__internal__.layers.BaseRandomLayer):
    """A random rotation (up to ``rotation`` of a full turn) and zoom (1 ± ``zoom``) about the
    image centre, applied as one bilinear resampling.

    Keras' RandomRotation followed by RandomZoom resample every image twice, and resampling
    is most of the input pipeline's time; composing the two maps first halves it (and blurs
    less). Uncovered pixels are filled with black, the background of a slice.
    """

    def __init__(self, rotation: float, zoom: float, seed: int | None = None, **kwargs) -> None:
        super().__init__(seed=seed, force_generator=True, **kwargs)
        self.rotation, self.zoom, self.seed = rotation, zoom, seed

    def call(self, images: tf.Tensor, training: bool = True) -> tf.Tensor:
        if not training:
            return images
        shape = tf.shape(images)
        height, width = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
        turn = 2.0 * np.pi * self.rotation
        angles = self._random_generator.random_uniform([shape[0]], -turn, turn)
        zooms = self._random_generator.random_uniform([shape[0]], 1.0 - self.zoom, 1.0 + self.zoom)
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=images,
            transforms=rotation_zoom_transforms(angles, zooms, height, width),
            output_shape=shape[1:3],
            fill_value=0.0,
            fill_mode="CONSTANT",
            interpolation="BILINEAR",
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "rotation": self.rotation, "zoom": self.zoom, "seed": self.seed}


def rotation_zoom_transforms(angles: tf.Tensor, zooms: tf.Tensor, height: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
    """Projective transforms (N x 8, output point → input point) rotating by ``angles`` and
    scaling by ``zooms`` about the image centre: input = centre + zoom · R(angle) · (output - centre)."""
    centre_x, centre_y = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    cos, sin = zooms * tf.cos(angles), zooms * tf.sin(angles)
    zeros = tf.zeros_like(angles)
    return tf.stack(
        [
            cos,
            -sin,
            centre_x - cos * centre_x + sin * centre_y,
            sin,
            cos,
            centre_y - sin * centre_x - cos * centre_y,
            zeros,
            zeros,
        ],
        axis=1,
    )


def augmenter(seed: int) -> keras.Sequential:
    """MRI-appropriate augmentation on 0..255 pixels: left-right flips, small rotations and
    zoom, contrast jitter (clipped to 0..255).

    No vertical flips: axial slices have a fixed anterior-posterior orientation.
    """
    exact = {"dtype": "float32"}  # input pixels stay float32 under a mixed_float16 policy (GPU)
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed, **exact),
            RandomRotationZoom(rotation=0.03, zoom=0.1, seed=seed + 1, **exact),
            keras.layers.RandomContrast(0.15, seed=seed + 3, **exact),
        ],
        name="augmentation",
    )


def make_dataset(
    files: Sequence[tuple[Path, int]],
    spec: InputSpec,
    num_classes: int,
    batch_size: int,
    training: bool,
    seed: int = 0,
    label_smoothing: float = 0.0,
    mixup: float = 0.0,
) -> tf.data.Dataset:
    """(image, one-hot label) batches; shuffled and augmented when ``training``, and mixed
    (``mix_batches``) when ``mixup`` is above 0.

    Each image is augmented alone, before a grayscale one becomes RGB: a third of the
    resampling work for an MRI slice (measured on the 224 px split: 1,550 images/s from the
    cache instead of 780-940 when whole RGB batches were augmented), and every image gets
    its own contrast factor (Keras' RandomContrast draws one per call).
    """
    paths = tf.data.Dataset.from_tensor_slices([str(path) for path, _ in files])
    labels = tf.data.Dataset.from_tensor_slices([label for _, label in files])
    dataset = tf.data.Dataset.zip((decode_images(paths), labels)).cache()
    if training:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    augment = augmenter(seed) if training else None
    smoothing = label_smoothing if training else 0.0

    def example(pixels: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        values = resize_channels(pixels, spec)
        if augment is not None:
            values = augment(values[None], training=True)[0]
        one_hot = tf.one_hot(label, num_classes) * (1 - smoothing) + smoothing / num_classes
        return normalize(to_rgb(values, spec), spec), one_hot

    dataset = dataset.map(example, num_parallel_calls=PARALLEL_CALLS).batch(batch_size, drop_remainder=False)
    if training and mixup > 0:
        dataset = mix_batches(dataset, mixup, seed)
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(2).with_options(options)


def mix_batches(batches: tf.data.Dataset, alpha: float, seed: int) -> tf.data.Dataset:
    """Mixup: each image blended with its mirror in the (shuffled) batch, labels alike, by a weight
    drawn from Beta(alpha, alpha) and folded to at least 0.5, so an image's own class stays the
    larger part of its label (Keras' class weights go by the label's largest entry).

    Seeded stateless draws, one seed pair per batch and new ones each epoch: a rerun mixes the same way.
    """
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)  # new weights each epoch

    def mix(pair: tf.Tensor, batch: tuple[tf.Tensor, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        images, labels = batch
        keys = tf.random.split(pair, 2)
        first, second = (
            log_gamma_draws(tf.shape(images)[:1], alpha, keys[0]),
            log_gamma_draws(tf.shape(images)[:1], alpha, keys[1]),
        )
        weight = tf.sigmoid(tf.abs(first - second))  # G1 / (G1 + G2), folded to at least 0.5
        image_weight = tf.reshape(weight, [-1, 1, 1, 1])
        label_weight = tf.reshape(weight, [-1, 1])
        mixed_images = image_weight * images + (1.0 - image_weight) * tf.reverse(images, [0])
        mixed_labels = label_weight * labels + (1.0 - label_weight) * tf.reverse(labels, [0])
        return mixed_images, mixed_labels

    return tf.data.Dataset.zip((seeds, batches)).map(mix)


def log_gamma_draws(shape: tf.Tensor, alpha: float, seed: tf.Tensor) -> tf.Tensor:
    """log of Gamma(alpha) draws, exact for small alpha too: Gamma(alpha) = Gamma(alpha + 1) * U^(1 / alpha).

    TensorFlow's own Gamma(alpha) draws round to 0 below 1e-38, which alpha = 0.01 reaches one time in
    five: both draws then tie and the image becomes an even blend, the rarest outcome of Beta(alpha, alpha).
    """
    keys = tf.random.split(seed, 2)
    gamma = tf.random.stateless_gamma(shape, seed=keys[0], alpha=alpha + 1.0)
    uniform = tf.random.stateless_uniform(shape, seed=keys[1], minval=np.finfo(np.float32).tiny, maxval=1.0)
    return tf.math.log(gamma) + tf.math.log(uniform) / alpha
