"""The preprocessing contract, shared by training (TF), this runtime (numpy) and Android (Java).

decode → RGB uint8 → resize (bilinear, half-pixel centres, no antialiasing, float32)
→ normalize ((x - mean) / std, float32) → quantize when the model input is integer
(q = clip(rint(x / scale) + zero_point), round half to even).

Every step is plain float32 arithmetic in a fixed order, so TensorFlow's
``tf.image.resize(method="bilinear", antialias=False)``, this module and
``android_demo``'s Java port give the same tensor; golden tests hold them to it.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import file_kind
from brainedge.edge_runtime.metadata import RESIZE_METHOD, InputSpec

DEFAULT_MAX_PIXELS = 64_000_000
"""Images above this are refused as possible decompression bombs (a 8000x8000 scan passes)."""

ImageSource = Union[str, Path, bytes, Image.Image, np.ndarray]


def decode_rgb(source: ImageSource, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode any supported image into an HxWx3 uint8 RGB array, EXIF orientation applied."""
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source)
    image = ImageOps.exif_transpose(source) if isinstance(source, Image.Image) else _open_image(source, max_pixels)
    return _pil_to_rgb(image)


def decode_pixels(source: ImageSource, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Like decode_rgb, but a grayscale image stays HxWx1 (its RGB would be R = G = B).

    What the classifier feeds to_input_tensor: an MRI slice is usually grayscale, and
    resizing one channel instead of three identical ones gives the same tensor, faster.
    Grayscale means an 8-bit "L" image, or an RGB one whose three channels are equal
    (a gray slice saved as an RGB JPEG, as most in public MRI sets are).
    """
    if isinstance(source, np.ndarray):
        return source[..., None] if source.ndim == 2 and source.dtype == np.uint8 else _array_to_rgb(source)
    image = ImageOps.exif_transpose(source) if isinstance(source, Image.Image) else _open_image(source, max_pixels)
    if image.mode == "L":
        return np.asarray(image)[..., None]
    gray = _equal_channels(image) if image.mode == "RGB" else None
    return _pil_to_rgb(image) if gray is None else gray


def _equal_channels(image: Image.Image) -> np.ndarray | None:
    """An RGB image's red plane as HxWx1 when green and blue equal it, else None.

    Each plane is read straight from Pillow's buffer and compared as bytes: far cheaper
    than building the HxWx3 array, and a colour image costs only its red and green planes.
    """
    red = image.tobytes("raw", "R")
    if red != image.tobytes("raw", "G") or red != image.tobytes("raw", "B"):
        return None
    return np.frombuffer(red, np.uint8).reshape(image.height, image.width, 1)


def _open_image(source: str | Path | bytes, max_pixels: int) -> Image.Image:
    name = "<bytes>" if isinstance(source, bytes) else str(source)
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    if not isinstance(source, bytes):
        _check_regular_file(source, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(stream)
            width, height = image.size
            if width * height > max_pixels:
                raise BrainEdgeError(f"{name}: {width}x{height} image {_exceeds(max_pixels)}")
            image.load()
    except FileNotFoundError:
        raise BrainEdgeError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise BrainEdgeError(f"{name}: is a directory, not an image") from None
    except UnidentifiedImageError:
        raise BrainEdgeError(f"{name}: not an image file Pillow can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BrainEdgeError(f"{name}: image {_exceeds(max_pixels)}") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise BrainEdgeError(f"{name}: corrupt or truncated image ({error})") from None
    ImageOps.exif_transpose(image, in_place=True)  # not in place, it copies even an upright image
    return image


def _check_regular_file(path: str | Path, name: str) -> None:
    """Refuse a FIFO, socket or device before opening it: reading a FIFO blocks until a writer comes,
    a device may never end. Folder walks skip them; this holds for a path given by name too."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise BrainEdgeError(f"{name}: no such file") from None
    except OSError as error:
        raise BrainEdgeError(f"{name}: cannot be read ({error.strerror})") from None
    if stat.S_ISDIR(mode):
        raise BrainEdgeError(f"{name}: is a directory, not an image")
    if not stat.S_ISREG(mode):
        raise BrainEdgeError(f"{name}: {file_kind(mode)}, not a regular file")


def _exceeds(max_pixels: int) -> str:
    """The limit an image was refused for, in the runtime's words: Pillow refuses images above its own
    ``MAX_IMAGE_PIXELS`` while opening them, before their size can be checked here."""
    pillow_limit = Image.MAX_IMAGE_PIXELS
    limit = max_pixels if pillow_limit is None else min(max_pixels, pillow_limit)
    return f"exceeds the {limit:,}-pixel limit (refused as a possible decompression bomb)"


def _pil_to_rgb(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit scans: 0..65535 maps onto 0..255 (65535 / 257 = 255).
        wide = np.asarray(image, dtype=np.float64)
        gray = np.rint(np.clip(wide, 0, 65535) / 257.0).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "F":
        gray = np.rint(np.clip(np.asarray(image, dtype=np.float64), 0, 255)).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        # Transparent pixels become black, the background of an MRI slice.
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return np.asarray(Image.alpha_composite(black, rgba).convert("RGB"))
    return np.asarray(image if mode == "RGB" else image.convert("RGB"))


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    if array.dtype != np.uint8:
        raise BrainEdgeError(f"image arrays must be uint8, got {array.dtype}")
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, axis=2)
    if array.ndim == 3 and array.shape[2] == 1:
        return np.repeat(array, 3, axis=2)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return np.ascontiguousarray(array[..., :3])
    raise BrainEdgeError(f"image arrays must be HxW, HxWx1, HxWx3 or HxWx4, got shape {array.shape}")


@lru_cache(maxsize=16)
def _axis_weights(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights along one axis, exactly as TF's half-pixel bilinear scaler."""
    scale = np.float32(in_size) / np.float32(out_size)
    centres = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    floor = np.floor(centres)
    lower = np.maximum(floor, 0).astype(np.intp)
    upper = np.minimum(np.ceil(centres), in_size - 1).astype(np.intp)
    return lower, upper, (centres - floor).astype(np.float32)


VALUES_PER_STEP = 64 * 224 * 3
"""Output values computed at a time (64 rows of a 224 px RGB input, 192 of a grayscale one):
each step's float32 temporaries stay in the CPU cache, which makes preprocessing several
times faster than whole-image steps, while a one-channel image needs few steps. The
arithmetic per pixel is the same whatever the step, so results do not depend on it."""


def resize_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize HxWxC to height x width x C, float32, in TF's order of operations."""
    resized = np.empty((height, width, image.shape[2]), np.float32)
    for rows in _row_steps(height, width * image.shape[2]):
        resized[rows] = _resize_rows(image, height, width, rows)
    return resized


def _row_steps(height: int, values_per_row: int) -> list[slice]:
    rows = max(1, VALUES_PER_STEP // values_per_row)
    return [slice(start, min(start + rows, height)) for start in range(0, height, rows)]


def _resize_rows(image: np.ndarray, height: int, width: int, rows: slice) -> np.ndarray:
    """Output rows ``rows`` of the height x width resize of ``image``, float32."""
    in_height, in_width, channels = image.shape
    if (in_height, in_width) == (height, width):
        # Every weight is 0 and both neighbours are the pixel itself: the lerps below return it exactly.
        return image[rows].astype(np.float32)
    y_lower, y_upper, y_lerp = _axis_weights(in_height, height)
    x_lower, x_upper, x_lerp = _axis_weights(in_width, width)
    count = rows.stop - rows.start
    # Gather the four neighbours from the uint8 image (rows, then columns of the flattened
    # rows, which numpy gathers far faster than HxWxC pixels) and widen them once: exact,
    # and much less work than converting the whole image to float32 first. Rows stay
    # flat (W*C values, weights repeated per channel) so numpy's inner loops run long.
    picked = image[np.concatenate([y_lower[rows], y_upper[rows]])].reshape(2 * count, in_width * channels)
    corners = picked.take(_flat_columns(x_lower, x_upper, channels), axis=1).astype(np.float32)
    corners = corners.reshape(2, count, 2, width * channels)
    left, right = corners[:, :, 0], corners[:, :, 1]
    top, bottom = left + (right - left) * np.repeat(x_lerp, channels)
    return (top + (bottom - top) * y_lerp[rows, None]).reshape(count, width, channels)


def _flat_columns(lower: np.ndarray, upper: np.ndarray, channels: int) -> np.ndarray:
    """Indices into a flattened row (W*C values) of the left then the right neighbours' channels."""
    return (np.concatenate([lower, upper])[:, None] * channels + np.arange(channels)).ravel()


def normalize(pixels: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """(x - mean) / std per channel, in float32."""
    if len(set(mean)) == 1 and len(set(std)) == 1:
        # One value for every channel (MobileNet's): scalar arithmetic, the same numbers several
        # times faster than broadcasting over a 3-long last axis; a 1-channel image stays 1-channel.
        return (pixels - np.float32(mean[0])) / np.float32(std[0])
    return (pixels - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


def quantize(values: np.ndarray, scale: float, zero_point: int, dtype: str) -> np.ndarray:
    """Float tensor → integer tensor, as TFLite's quantize: rint(x / scale) + zero_point."""
    info = np.iinfo(dtype)
    steps = np.rint(values / np.float32(scale)) + np.float32(zero_point)
    return np.clip(steps, info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer tensor → float32: (q - zero_point) * scale."""
    return (values.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


def to_input_tensor(pixels: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Decoded uint8 image → the model's 1xHxWxC input tensor, as the spec says.

    ``pixels`` is HxWx3 RGB, or HxWx1 for a grayscale image (R = G = B): normalize
    broadcasts its one channel to three, so the tensor is identical at a third of the work.
    Runs resize, normalize and quantize a few rows at a time (see VALUES_PER_STEP).
    """
    if spec.resize_method != RESIZE_METHOD:
        raise BrainEdgeError(f"unsupported resize method {spec.resize_method!r}; expected {RESIZE_METHOD!r}")
    if spec.channels != 3 or spec.color_mode != "RGB":
        raise BrainEdgeError(f"unsupported input {spec.channels} x {spec.color_mode}; expected 3 x RGB")
    q = spec.quantization
    tensor = np.empty((1, spec.height, spec.width, spec.channels), np.float32 if q is None else spec.dtype)
    for rows in _row_steps(spec.height, spec.width * pixels.shape[2]):
        values = normalize(_resize_rows(pixels, spec.height, spec.width, rows), spec.mean, spec.std)
        _store(tensor[0, rows], values if q is None else quantize(values, q.scale, q.zero_point, spec.dtype))
    return tensor


def _store(target: np.ndarray, values: np.ndarray) -> None:
    """Copy rows into the tensor; a single channel is copied into each channel in turn
    (numpy broadcasts one value across a 3-long last axis several times slower)."""
    if values.shape[2] == target.shape[2]:
        target[...] = values
        return
    for channel in range(target.shape[2]):
        target[..., channel] = values[..., 0]
