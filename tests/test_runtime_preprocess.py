"""The runtime's fast preprocessing paths give exactly the contract's tensor.

The classifier resizes a few rows at a time and keeps grayscale images single-channel;
both must be bit-identical to the plain contract (decode to RGB, resize the whole image,
normalize, quantize), which the TF and Java golden tests pin down.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from test_runtime_cli import png_claiming

import brainedge.edge_runtime.preprocess
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.metadata import InputSpec, Quantization
from brainedge.edge_runtime.preprocess import (
    VALUES_PER_STEP,
    decode_pixels,
    decode_rgb,
    normalize,
    quantize,
    resize_bilinear,
    to_input_tensor,
)

SPECS = [
    InputSpec(224, 224),
    InputSpec(224, 224, dtype="uint8", quantization=Quantization(1 / 128, 128)),
    InputSpec(VALUES_PER_STEP // (48 * 3) + 1, 48, dtype="int8", quantization=Quantization(0.0079, -3)),
]


def plain_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """TF's half-pixel bilinear written out whole-image, float32, in TF's order of operations."""

    def axis(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        centres = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * (
            np.float32(in_size) / np.float32(out_size)
        ) - np.float32(0.5)
        floor = np.floor(centres)
        lower = np.maximum(floor, 0).astype(int)
        upper = np.minimum(np.ceil(centres), in_size - 1).astype(int)
        return lower, upper, (centres - floor).astype(np.float32)

    y0, y1, dy = axis(image.shape[0], height)
    x0, x1, dx = axis(image.shape[1], width)
    pixels = image.astype(np.float32)
    top_left, top_right = pixels[y0][:, x0], pixels[y0][:, x1]
    bottom_left, bottom_right = pixels[y1][:, x0], pixels[y1][:, x1]
    top = top_left + (top_right - top_left) * dx[None, :, None]
    bottom = bottom_left + (bottom_right - bottom_left) * dx[None, :, None]
    return top + (bottom - top) * dy[:, None, None]


def plain_tensor(rgb: np.ndarray, spec: InputSpec) -> np.ndarray:
    values = normalize(plain_resize(rgb, spec.height, spec.width), spec.mean, spec.std)
    if spec.quantization is not None:
        values = quantize(values, spec.quantization.scale, spec.quantization.zero_point, spec.dtype)
    return values[None]


@pytest.mark.parametrize("in_size", [(1, 1), (5, 3), (224, 224), (512, 512), (97, 301), (301, 97)])
@pytest.mark.parametrize("out_size", [(224, 224), (1, 1), (33, 7), (VALUES_PER_STEP // 96 + 1, 96)])
@pytest.mark.parametrize("channels", [1, 3])
def test_resize_matches_the_whole_image_formula(
    in_size: tuple[int, int], out_size: tuple[int, int], channels: int
) -> None:
    image = np.random.default_rng(sum(in_size)).integers(0, 256, (*in_size, channels), dtype=np.uint8)
    resized = resize_bilinear(image, *out_size)
    assert resized.dtype == np.float32
    np.testing.assert_array_equal(resized, plain_resize(image, *out_size))


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def sources() -> dict[str, object]:
    rng = np.random.default_rng(1)
    colour = Image.fromarray(rng.integers(0, 256, (150, 210, 3), dtype=np.uint8))
    gray = colour.convert("L")
    exif = gray.getexif()
    exif[0x0112] = 6  # rotated 90 degrees
    return {
        "gray png": encoded(gray, "PNG"),
        "gray jpeg, EXIF-rotated": encoded(gray, "JPEG", exif=exif),
        "RGB jpeg": encoded(colour, "JPEG"),
        "RGBA png": encoded(colour.convert("RGBA"), "PNG"),
        "palette png": encoded(colour.convert("P"), "PNG"),
        "1-bit png": encoded(colour.convert("1"), "PNG"),
        "16-bit png": encoded(Image.fromarray(rng.integers(0, 65536, (90, 70), dtype=np.uint16)), "PNG"),
        "gray PIL image": gray,
        "gray array": np.asarray(gray),
        "RGB array": np.asarray(colour),
        "gray slice saved as RGB jpeg": encoded(gray.convert("RGB"), "JPEG"),
        "RGB png gray but one pixel": encoded(almost_gray(gray), "PNG"),
    }


def almost_gray(gray: Image.Image) -> Image.Image:
    """A gray image as RGB with one blue value off by one: must not be taken for grayscale."""
    pixels = np.repeat(np.asarray(gray)[..., None], 3, axis=2)
    pixels[-1, -1, 2] ^= 1
    return Image.fromarray(pixels)


@pytest.mark.parametrize("name", list(sources()))
def test_classifier_path_gives_the_contract_tensor(name: str) -> None:
    source = sources()[name]
    pixels = decode_pixels(source)
    rgb = decode_rgb(source)
    assert pixels.shape[:2] == rgb.shape[:2] and pixels.shape[2] in (1, 3)
    for spec in SPECS:
        tensor = to_input_tensor(pixels, spec)
        assert tensor.dtype == (np.float32 if spec.quantization is None else np.dtype(spec.dtype))
        np.testing.assert_array_equal(tensor, plain_tensor(rgb, spec))
        np.testing.assert_array_equal(tensor, to_input_tensor(rgb, spec))


def test_grayscale_stays_one_channel() -> None:
    assert decode_pixels(sources()["gray png"]).shape == (150, 210, 1)
    assert decode_pixels(sources()["gray jpeg, EXIF-rotated"]).shape == (210, 150, 1)
    assert decode_pixels(sources()["RGB jpeg"]).shape == (150, 210, 3)
    assert decode_pixels(sources()["gray slice saved as RGB jpeg"]).shape == (150, 210, 1)
    assert decode_pixels(sources()["RGB png gray but one pixel"]).shape == (150, 210, 3)


@pytest.mark.parametrize("values_per_step", [1, 7 * 3, 100 * 3, 10**9])
@pytest.mark.parametrize("name", ["gray png", "RGB jpeg"])
def test_step_size_does_not_change_the_tensor(values_per_step: int, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(brainedge.edge_runtime.preprocess, "VALUES_PER_STEP", values_per_step)
    source = sources()[name]
    for spec in SPECS:
        np.testing.assert_array_equal(
            to_input_tensor(decode_pixels(source), spec), plain_tensor(decode_rgb(source), spec)
        )


def test_pixel_aligned_normalization_makes_a_uint8_input_the_pixel_itself() -> None:
    """Training's (p - 128) / 128 quantizes back to p; Keras' (p - 127.5) / 127.5 cannot (half a step off)."""
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    aligned = InputSpec(
        height=16, width=16, dtype="uint8", quantization=Quantization(1 / 128, 128), mean=(128.0,) * 3, std=(128.0,) * 3
    )
    np.testing.assert_array_equal(to_input_tensor(pixels, aligned)[0], pixels)
    keras_style = InputSpec(height=16, width=16, dtype="uint8", quantization=Quantization(2 / 255, 127))
    assert np.count_nonzero(to_input_tensor(pixels, keras_style)[0] != pixels) > 100


def test_a_pil_image_is_turned_upright_like_a_file(tmp_path) -> None:
    """The API takes PIL images too: their EXIF orientation applies as it does for a path."""
    from PIL import Image

    from brainedge.edge_runtime.preprocess import decode_rgb

    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :10] = 255  # a bright left edge, so a rotation shows
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to view
    path = tmp_path / "sideways.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=100)
    from_path = decode_rgb(path)
    with Image.open(path) as opened:
        from_pil = decode_rgb(opened)
    assert from_path.shape == (40, 20, 3) and np.array_equal(from_pil, from_path)


@pytest.mark.parametrize(
    ("width", "height", "max_pixels", "said"),
    [
        (9_000, 9_000, 64_000_000, "9000x9000 image exceeds the 64,000,000-pixel limit"),  # checked here
        (10_000, 10_000, 64_000_000, "image exceeds the 64,000,000-pixel limit"),  # refused by Pillow first
        (20_000, 20_000, 64_000_000, "image exceeds the 64,000,000-pixel limit"),  # Pillow's error, not its warning
        (10_000, 10_000, 500_000_000, f"image exceeds the {Image.MAX_IMAGE_PIXELS:,}-pixel limit"),  # Pillow's is lower
    ],
)
def test_a_decompression_bomb_is_refused_with_the_limit_that_applies(
    width: int, height: int, max_pixels: int, said: str
) -> None:
    with pytest.raises(BrainEdgeError) as refused:
        decode_pixels(png_claiming(width, height), max_pixels)
    assert str(refused.value) == f"<bytes>: {said} (refused as a possible decompression bomb)"
