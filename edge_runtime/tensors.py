"""Named float32 arrays in one file, in the safetensors layout, read and written with numpy alone.

A bundle's head file (classifier weights, calibration and out-of-distribution statistics) uses it:
safetensors is what the Hugging Face and Keras 3 ecosystems store weights in, it needs no pickle,
and its layout (8-byte little-endian header length, a JSON header, raw little-endian data) is a
few lines to read on a Raspberry Pi or in Java.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from brainedge.edge_runtime.errors import BrainEdgeError

HEADER_LIMIT = 1 << 20
"""A header longer than this is not one we wrote (ours are a few hundred bytes)."""


def tensors_to_bytes(tensors: dict[str, np.ndarray]) -> bytes:
    """Safetensors bytes of ``tensors`` (stored as little-endian float32, in the given order)."""
    header: dict[str, dict] = {}
    chunks: list[bytes] = []
    offset = 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(array)), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # data aligned to 8 bytes, as the format recommends
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def read_tensors(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a safetensors file of float32 tensors, refused in one line when it is not one."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BrainEdgeError(f"{path}: missing") from None
    except OSError as error:
        raise BrainEdgeError(f"{path}: cannot be read ({error.strerror})") from None
    try:
        return tensors_from_bytes(data)
    except ValueError as error:
        raise BrainEdgeError(f"{path}: not a safetensors file of float32 tensors ({error})") from None


def tensors_from_bytes(data: bytes) -> dict[str, np.ndarray]:
    if len(data) < 8:
        raise ValueError("shorter than its 8-byte header length")
    (length,) = struct.unpack("<Q", data[:8])
    if length > min(HEADER_LIMIT, len(data) - 8):
        raise ValueError(f"header length {length} does not fit the file")
    try:
        header = json.loads(data[8 : 8 + length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"header is not JSON: {error}") from None
    except RecursionError:
        raise ValueError("header is nested too deeply") from None
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    body = memoryview(data)[8 + length :]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        tensors[name] = _tensor(name, entry, body)
    return tensors


def _tensor(name: str, entry: object, body: memoryview) -> np.ndarray:
    if not isinstance(entry, dict) or entry.get("dtype") != "F32":
        raise ValueError(f"tensor {name!r} is not F32")
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
        raise ValueError(f"tensor {name!r} has no valid shape")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
        raise ValueError(f"tensor {name!r} has no valid data_offsets")
    start, end = offsets
    if not 0 <= start <= end <= len(body) or end - start != 4 * int(np.prod(shape, dtype=np.int64)):
        raise ValueError(f"tensor {name!r}: data_offsets {offsets} do not fit shape {shape} and the file")
    return np.frombuffer(body[start:end], dtype="<f4").reshape(shape).astype(np.float32)
