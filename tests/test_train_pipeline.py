"""The training input pipeline's shortcuts change nothing they should not.

- resize skips the resampling only for an image already at the input size, and resizes a
  grayscale image as one channel, each time giving the pixels TF's bilinear resize of its RGB would;
- RandomRotationZoom resamples once with exactly the map of Keras' RandomRotation followed by
  RandomZoom, which it replaces.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from brainedge.edge_runtime.metadata import InputSpec

pytest.importorskip("tensorflow", reason="the training pipeline runs on TensorFlow (pip install -e '.[train]')")
from brainedge.train.pipeline import RandomRotationZoom, resize_channels, rotation_zoom_transforms, to_rgb  # noqa: E402
from brainedge.train.tf_setup import keras, tf  # noqa: E402

pytestmark = [pytest.mark.tensorflow]


def apply(transforms: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (x, y) output points to input points with one row of projective transform parameters."""
    a0, a1, a2, b0, b1, b2, c0, c1 = transforms
    k = c0 * points[:, 0] + c1 * points[:, 1] + 1
    return np.stack(
        [(a0 * points[:, 0] + a1 * points[:, 1] + a2) / k, (b0 * points[:, 0] + b1 * points[:, 1] + b2) / k], axis=1
    )


@pytest.mark.parametrize("angle, zoom", [(0.0, 1.0), (0.15, 1.0), (-0.18, 0.92), (0.05, 1.1)])
def test_one_resampling_maps_points_as_rotation_then_zoom(angle: float, zoom: float) -> None:
    from tf_keras.src.layers.preprocessing.image_preprocessing import get_rotation_matrix, get_zoom_matrix

    height, width = 40.0, 56.0
    ours = rotation_zoom_transforms(tf.constant([angle]), tf.constant([zoom]), height, width).numpy()[0]
    rotation = get_rotation_matrix(tf.constant([angle]), height, width).numpy()[0]
    zooming = get_zoom_matrix(tf.constant([[zoom, zoom]]), height, width).numpy()[0]
    points = np.random.default_rng(0).uniform(-5, 60, (50, 2))
    # RandomRotation then RandomZoom: an output point is mapped by the zoom, then by the rotation.
    np.testing.assert_allclose(apply(ours, points), apply(rotation, apply(zooming, points)), atol=1e-4)


def test_rotation_zoom_layer_is_seeded_random_and_off_at_inference() -> None:
    images = tf.constant(np.random.default_rng(1).uniform(0, 255, (4, 24, 24, 3)), tf.float32)
    first = RandomRotationZoom(0.03, 0.1, seed=3)(images, training=True).numpy()
    again = RandomRotationZoom(0.03, 0.1, seed=3)(images, training=True).numpy()
    np.testing.assert_array_equal(first, again)
    assert first.shape == images.shape and not np.allclose(first, images.numpy())
    np.testing.assert_array_equal(RandomRotationZoom(0.03, 0.1, seed=3)(images, training=False), images)
    layer = RandomRotationZoom.from_config(RandomRotationZoom(0.03, 0.1, seed=3).get_config())
    assert (layer.rotation, layer.zoom, layer.seed) == (0.03, 0.1, 3)
    assert isinstance(keras.Sequential([layer]).layers[0], RandomRotationZoom)


@pytest.mark.parametrize("shape", [(32, 32), (45, 32), (32, 17), (7, 90)])
@pytest.mark.parametrize("channels", [1, 3])
def test_resize_equals_tf_bilinear_of_the_rgb_image(shape: tuple[int, int], channels: int) -> None:
    """With or without the same-size shortcut, and for a grayscale image kept one channel."""
    pixels = np.random.default_rng(2).integers(0, 256, (*shape, channels), dtype=np.uint8)
    rgb = np.broadcast_to(pixels, (*shape, 3))
    expected = tf.image.resize(tf.cast(rgb, tf.float32), (32, 32), method="bilinear", antialias=False)
    spec = InputSpec(height=32, width=32)
    resized = to_rgb(resize_channels(tf.constant(pixels), spec), spec)
    assert resized.shape == (32, 32, 3)
    np.testing.assert_array_equal(resized.numpy(), expected.numpy())


def test_training_examples_are_augmented_one_image_at_a_time(tmp_path) -> None:
    """Gray slices are augmented as one channel, then become RGB: their three channels stay equal."""
    from PIL import Image

    from brainedge.train.pipeline import make_dataset

    rng = np.random.default_rng(3)
    files = []
    for index in range(8):
        path = tmp_path / f"{index}.png"
        Image.fromarray(rng.integers(0, 256, (40, 40), dtype=np.uint8)).save(path)
        files.append((path, index % 2))
    spec = InputSpec(height=32, width=32)
    images, labels = next(iter(make_dataset(files, spec, num_classes=2, batch_size=8, training=True, seed=0)))
    plain, _ = next(iter(make_dataset(files, spec, num_classes=2, batch_size=8, training=False)))
    assert images.shape == (8, 32, 32, 3) and labels.shape == (8, 2)
    np.testing.assert_array_equal(images[..., 0], images[..., 1])
    np.testing.assert_array_equal(images[..., 0], images[..., 2])
    assert not np.allclose(images.numpy(), plain.numpy())


def test_chunked_decoding_gives_each_image_as_decoded_alone_in_order(tmp_path) -> None:
    """Mixed sizes and channel counts across and within chunks: no padding leaks, no reordering."""
    from PIL import Image

    from brainedge.edge_runtime.preprocess import decode_pixels
    from brainedge.train.pipeline import DECODE_CHUNK, decode_images

    rng = np.random.default_rng(4)
    paths = []
    for index in range(DECODE_CHUNK + 5):
        size = (int(rng.integers(8, 40)), int(rng.integers(8, 40)))
        pixels = rng.integers(0, 256, (*size, 3) if index % 3 else size, dtype=np.uint8)
        paths.append(str(tmp_path / f"{index}.png"))
        Image.fromarray(pixels).save(paths[-1])
    decoded = list(decode_images(tf.data.Dataset.from_tensor_slices(paths)))
    assert len(decoded) == len(paths)
    for path, image in zip(paths, decoded):
        np.testing.assert_array_equal(image.numpy(), decode_pixels(path))


def test_mixup_blends_each_image_with_its_mirror_in_the_batch_by_a_seeded_weight() -> None:
    from brainedge.train.pipeline import mix_batches

    rng = np.random.default_rng(5)
    images = rng.random((6, 4, 4, 3)).astype(np.float32)
    classes = np.array([0, 1, 2, 0, 2, 1])  # every image's mirror (index 5 - i) has another class
    labels = np.eye(3, dtype=np.float32)[classes]
    batches = tf.data.Dataset.from_tensors((images, labels)).repeat(2)

    first, second = [(x.numpy(), y.numpy()) for x, y in mix_batches(batches, alpha=0.4, seed=0)]
    mixed_images, mixed_labels = first
    weight = mixed_labels[np.arange(6), classes]
    assert np.all(weight >= 0.5) and np.any(weight < 0.99)
    np.testing.assert_allclose(mixed_labels.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(mixed_labels[np.arange(6), classes[::-1]], 1.0 - weight, rtol=1e-5, atol=1e-6)
    expected = weight[:, None, None, None] * images + (1.0 - weight[:, None, None, None]) * images[::-1]
    np.testing.assert_allclose(mixed_images, expected, rtol=1e-5, atol=1e-6)

    assert not np.allclose(second[1], mixed_labels)  # each batch draws its own weights
    again = [y.numpy() for _, y in mix_batches(batches, alpha=0.4, seed=0)]
    other = [y.numpy() for _, y in mix_batches(batches, alpha=0.4, seed=1)]
    np.testing.assert_array_equal(again[0], mixed_labels)
    assert not np.allclose(other[0], mixed_labels)

    epochs = mix_batches(batches, alpha=0.4, seed=0)  # one dataset iterated twice, as Keras does per epoch
    first_epoch, second_epoch = ([y.numpy() for _, y in epochs] for _ in range(2))
    assert not np.allclose(first_epoch[0], second_epoch[0])  # each epoch draws new weights


@pytest.mark.parametrize("alpha", [0.01, 0.2, 1.0])
def test_mixup_weights_follow_the_folded_beta_distribution(alpha: float) -> None:
    """Against numpy's Beta(alpha, alpha) folded to >= 0.5: TensorFlow's own Gamma draws underflow for a
    small alpha and tie, which made alpha = 0.01 blend evenly one time in five instead of almost never."""
    from brainedge.train.pipeline import mix_batches

    count = 20_000
    classes = np.arange(count) % 2
    images = np.zeros((count, 1, 1, 1), np.float32)
    labels = np.eye(2, dtype=np.float32)[classes]
    batches = tf.data.Dataset.from_tensors((images, labels))
    _, mixed = next(iter(mix_batches(batches, alpha=alpha, seed=0)))
    weight = mixed.numpy()[np.arange(count), classes]
    reference = np.random.default_rng(0).beta(alpha, alpha, count)
    reference = np.maximum(reference, 1 - reference)
    assert abs(weight.mean() - reference.mean()) < 0.01
    assert abs(np.mean(weight < 0.55) - np.mean(reference < 0.55)) < 0.015


def steps_with_constant_gradient(optimizer: keras.optimizers.Optimizer, steps: int) -> list[float]:
    """Where one weight is after each of ``steps`` Adam steps on the gradient -1 (each moves it up by the rate)."""
    weight = tf.Variable([0.0], name="kernel")
    trajectory = []
    for _ in range(steps):
        optimizer.apply_gradients([(tf.constant([-1.0]), weight)])
        trajectory.append(float(weight.numpy()[0]))
    return trajectory


def test_weight_decay_shrinks_kernels_but_not_biases_or_batch_norm() -> None:
    from brainedge.train.config import ModelConfig, TrainConfig
    from brainedge.train.trainer import make_optimizer

    weights = [tf.Variable([2.0], name=name) for name in ("kernel", "bias", "gamma", "beta")]
    optimizer = make_optimizer(TrainConfig(model=ModelConfig(num_classes=2), weight_decay=0.5), 0.1, 10)
    optimizer.apply_gradients([(tf.zeros_like(weight), weight) for weight in weights])  # Adam's own step is 0
    assert [float(weight.numpy()[0]) for weight in weights] == pytest.approx([2.0 * (1 - 0.1 * 0.5), 2.0, 2.0, 2.0])


def test_weight_averaging_is_written_into_the_model_at_each_epochs_end_only() -> None:
    from brainedge.train.config import ModelConfig, TrainConfig
    from brainedge.train.trainer import make_optimizer

    model = ModelConfig(num_classes=2)
    plain = steps_with_constant_gradient(make_optimizer(TrainConfig(model=model), 0.1, 3), 6)
    averaged = steps_with_constant_gradient(make_optimizer(TrainConfig(model=model, ema=0.5), 0.1, 3), 6)
    assert plain == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], rel=1e-4)
    assert averaged[:2] == pytest.approx(plain[:2], rel=1e-4), "averaged before the epoch ended"
    assert averaged[2] < plain[2] - 0.05, "the epoch's average was not written into the model"
    assert averaged[3] == pytest.approx(averaged[2] + 0.1, rel=1e-4), "the next epoch does not start from the average"


def tiny_fit(callbacks: list[keras.callbacks.Callback], targets: np.ndarray | None = None) -> None:
    """Two epochs of 10 batches on a one-weight model."""
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss="mse")
    inputs, zeros = np.ones((40, 2), np.float32), np.zeros((40, 1), np.float32)
    targets = zeros if targets is None else targets
    model.fit(inputs, targets, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=callbacks)


def test_training_stops_at_the_next_batch_after_a_ctrl_c_that_tensorflow_swallowed() -> None:
    from brainedge.edge_runtime.errors import EXIT_INTERRUPTED, report_user_errors, stops_received
    from brainedge.train.trainer import StopWhenAsked

    batches = []

    class SwallowsCtrlC(keras.callbacks.Callback):  # as a tf.data thread's "Exception ignored" does
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            batches.append(batch)
            if batch == 1:
                try:
                    os.kill(os.getpid(), signal.SIGINT)
                except KeyboardInterrupt:
                    pass

    def train(_: None) -> int:
        tiny_fit([SwallowsCtrlC(), StopWhenAsked(stops_received())])
        return 0

    assert report_user_errors(train, None) == EXIT_INTERRUPTED
    assert batches == [0, 1], "training went on after Ctrl-C"


def test_a_loss_that_becomes_nan_stops_training_with_one_error() -> None:
    from brainedge.edge_runtime.errors import BrainEdgeError
    from brainedge.train.trainer import StopOnDivergence

    targets = np.zeros((40, 1), np.float32)
    targets[4] = np.nan  # the second batch
    with pytest.raises(BrainEdgeError, match=r"loss became nan at finetune epoch 1, batch 2; start a new --out"):
        tiny_fit([StopOnDivergence("finetune")], targets)
    tiny_fit([StopOnDivergence("finetune")])  # a finite loss trains on
