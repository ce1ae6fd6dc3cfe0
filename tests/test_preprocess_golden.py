"""Golden test of the one preprocessing contract: the TF training pipeline and the numpy
runtime must produce the same model input for the same file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brainedge.edge_runtime.metadata import InputSpec, Quantization
from brainedge.edge_runtime.preprocess import decode_rgb, quantize, to_input_tensor

pytestmark = [pytest.mark.tensorflow]

SHARED_MRI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "brain-tumor-mri" / "Training"
SPEC = InputSpec(height=96, width=96)


def _write_images(folder: Path) -> list[Path]:
    """Files in every decode path the contract names, none of them at the model's size."""
    rng = np.random.default_rng(7)
    gradient = np.linspace(0, 255, 300 * 200).reshape(200, 300).astype(np.uint8)
    rgb = np.stack([gradient, gradient[::-1], rng.integers(0, 256, (200, 300), dtype=np.uint8)], axis=2)
    paths = {
        "gray.jpg": Image.fromarray(gradient, "L"),
        "rgb_wide.png": Image.fromarray(rgb, "RGB"),
        "rgba_small.png": Image.fromarray(rng.integers(0, 256, (50, 70, 4), dtype=np.uint8), "RGBA"),
        "palette.gif": Image.fromarray(rgb, "RGB").convert("P", palette=Image.ADAPTIVE),
        "large.bmp": Image.fromarray(rng.integers(0, 256, (517, 389, 3), dtype=np.uint8), "RGB"),
        "gray16.png": Image.fromarray(gradient.astype(np.uint16) * 257),
    }
    written = []
    for name, image in paths.items():
        image.save(folder / name)
        written.append(folder / name)
    exif = Image.fromarray(rgb, "RGB").getexif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise on display
    Image.fromarray(rgb, "RGB").save(folder / "exif_rotated.jpg", exif=exif)
    written.append(folder / "exif_rotated.jpg")
    return written


def _sample_mri(count: int = 6) -> list[Path]:
    if not SHARED_MRI.is_dir():
        return []
    return [sorted((SHARED_MRI / label).iterdir())[7] for label in sorted(os.listdir(SHARED_MRI))][:count]


@pytest.fixture(scope="module")
def golden_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return _write_images(tmp_path_factory.mktemp("golden")) + _sample_mri()


def _tf_inputs(paths: list[Path], spec: InputSpec) -> np.ndarray:
    """The model inputs the training pipeline feeds for validation and evaluation (no augmentation)."""
    from brainedge.train.pipeline import make_dataset

    dataset = make_dataset([(p, 0) for p in paths], spec, num_classes=1, batch_size=len(paths), training=False)
    images, _ = next(iter(dataset))
    return images.numpy()


def test_exif_orientation_is_applied(golden_files: list[Path]) -> None:
    rotated = next(p for p in golden_files if p.name == "exif_rotated.jpg")
    assert decode_rgb(rotated).shape == (300, 200, 3)  # stored 300 wide, displayed 200 wide


def test_tf_pipeline_and_numpy_runtime_agree_on_float_inputs(golden_files: list[Path]) -> None:
    tf_inputs = _tf_inputs(golden_files, SPEC)
    numpy_inputs = np.concatenate([to_input_tensor(decode_rgb(p), SPEC) for p in golden_files])
    assert tf_inputs.shape == numpy_inputs.shape == (len(golden_files), 96, 96, 3)
    worst = np.abs(tf_inputs - numpy_inputs).max(axis=(1, 2, 3))
    assert worst.max() <= 1e-3, dict(zip([p.name for p in golden_files], worst))


@pytest.mark.parametrize("dtype,zero_point", [("uint8", 128), ("int8", 0)])
def test_tf_pipeline_and_numpy_runtime_agree_on_integer_inputs(
    golden_files: list[Path], dtype: str, zero_point: int
) -> None:
    quantized_spec = InputSpec(height=96, width=96, dtype=dtype, quantization=Quantization(1 / 128, zero_point))
    tf_steps = quantize(_tf_inputs(golden_files, SPEC), 1 / 128, zero_point, dtype).astype(np.int32)
    numpy_steps = np.concatenate([to_input_tensor(decode_rgb(p), quantized_spec) for p in golden_files])
    assert numpy_steps.dtype == np.dtype(dtype)
    assert np.abs(tf_steps - numpy_steps.astype(np.int32)).max() <= 1


def test_resize_matches_tf_when_upsampling_and_downsampling() -> None:
    from brainedge.edge_runtime.preprocess import resize_bilinear
    from brainedge.train.tf_setup import tf

    image = np.random.default_rng(3).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    for height, width in [(96, 96), (20, 31), (37, 53), (224, 100)]:
        expected = tf.image.resize(
            tf.cast(image, tf.float32), (height, width), method="bilinear", antialias=False
        ).numpy()
        assert np.abs(resize_bilinear(image, height, width) - expected).max() <= 1e-3
