"""Seeded, time-bounded fuzzing of what a device reads: image files and bundle metadata.

Whatever the bytes, the runtime answers or raises its own BrainEdgeError — never another
exception, never a hang. A failure names the seed and the case, so it can be replayed.
"""

from __future__ import annotations

import io
import json
import random
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from PIL import Image

from brainedge.edge_runtime.bundle import Bundle
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.metadata import METADATA_FILE, BundleMetadata, InputSpec, OutputSpec, Quantization
from brainedge.edge_runtime.preprocess import decode_pixels, to_input_tensor

SEED = 20261130
SECONDS = 6.0
SPEC = InputSpec(
    height=32, width=32, dtype="uint8", quantization=Quantization(1 / 128, 128), mean=(128.0,) * 3, std=(128.0,) * 3
)


def seed_images() -> dict[str, bytes]:
    """Small real files of every format a scan arrives in, gray and colour."""
    rng = np.random.default_rng(0)
    gray = Image.fromarray(rng.integers(0, 256, (40, 56), dtype=np.uint8), "L")
    colour = Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8), "RGB")
    files = {}
    for name, image in (("gray", gray), ("colour", colour)):
        for fmt in ("JPEG", "PNG", "TIFF", "WEBP"):
            stream = io.BytesIO()
            image.save(stream, format=fmt)
            files[f"{name}.{fmt.lower()}"] = stream.getvalue()
    return files


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One of: flipped bytes, a truncation, inserted junk, a duplicated chunk, a zeroed header field."""
    data = bytearray(data)
    kind = rng.randrange(5)
    if kind == 0:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 1:
        del data[rng.randrange(1, len(data)) :]
    elif kind == 2:
        at = rng.randrange(len(data))
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    elif kind == 3:
        start = rng.randrange(len(data))
        data[start:start] = data[start : start + rng.randint(1, 256)]
    else:
        at = rng.randrange(min(len(data), 64))
        data[at : at + 4] = b"\xff\xff\xff\x7f"
    return bytes(data)


def run_bounded(cases: Callable[[random.Random], tuple[str, Any]], check: Callable[[Any], None]) -> int:
    """Feed cases until the time budget is spent; only BrainEdgeError may escape ``check``."""
    rng = random.Random(SEED)
    deadline, count = time.monotonic() + SECONDS, 0
    while time.monotonic() < deadline:
        label, case = cases(rng)
        try:
            check(case)
        except BrainEdgeError as error:
            assert "\n" not in str(error), f"case {count} ({label}): a multi-line message"
        except Exception as error:  # noqa: BLE001 - the point: nothing else may escape
            pytest.fail(f"seed {SEED}, case {count} ({label}): {type(error).__name__}: {error}")
        count += 1
    return count


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about corrupt EXIF, as it should
def test_mutated_images_decode_or_raise_the_runtime_error() -> None:
    originals = seed_images()
    names = sorted(originals)

    def case(rng: random.Random) -> tuple[str, bytes]:
        name = rng.choice(names)
        return name, mutate(originals[name], rng)

    def check(data: bytes) -> None:
        tensor = to_input_tensor(decode_pixels(data), SPEC)
        assert tensor.shape == (1, 32, 32, 3) and tensor.dtype == np.uint8

    assert run_bounded(case, check) > 200  # the budget bought a real number of cases


def valid_metadata() -> dict[str, Any]:
    metadata = BundleMetadata(
        model_file="model.tflite",
        model_format="tflite",
        variant="tflite_int8_ptq",
        model_sha256="0" * 64,
        class_names=["glioma", "meningioma", "notumor", "pituitary"],
        input=SPEC,
        output=OutputSpec(num_classes=4, dtype="uint8", quantization=Quantization(1 / 256, 0)),
    )
    return json.loads(metadata.to_json())


JSON_VALUES = [None, True, 0, -1, 1.5, float("nan"), "", "x" * 300, [], [1, "a"], {}, {"scale": 0}, 2**70]


def mutate_json(value: Any, rng: random.Random) -> Any:
    """Replace, delete or add one entry somewhere in the document, keeping the rest valid."""
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(sorted(value))
        copy = dict(value)
        action = rng.randrange(4)
        if action == 0:
            del copy[key]
        elif action == 1:
            copy[key] = rng.choice(JSON_VALUES)
        elif action == 2:
            copy[key + rng.choice(["", "_", "\x00"])] = rng.choice(JSON_VALUES)
        else:
            copy[key] = mutate_json(value[key], rng)
        return copy
    if isinstance(value, list) and value and rng.random() < 0.7:
        copy = list(value)
        copy[rng.randrange(len(copy))] = rng.choice(JSON_VALUES)
        return copy
    return rng.choice(JSON_VALUES)


def test_mutated_metadata_opens_or_raises_the_runtime_error(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "model.tflite").write_bytes(b"model")
    (bundle / "labels.txt").write_text("glioma\nmeningioma\nnotumor\npituitary\n")
    original = valid_metadata()

    def case(rng: random.Random) -> tuple[str, bytes]:
        if rng.random() < 0.5:
            return "json", json.dumps(mutate_json(original, rng)).encode()
        return "bytes", mutate(json.dumps(original).encode(), rng)

    def check(data: bytes) -> None:
        (bundle / METADATA_FILE).write_bytes(data)
        Bundle.open(bundle, check_model=False)

    assert run_bounded(case, check) > 200
