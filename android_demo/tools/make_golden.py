"""Golden files that hold the Android app's Java preprocessing to the Python runtime.

The Python runtime (``edge_runtime``) is the reference: this script draws small
synthetic PNGs, writes bundle metadata variants, and records what the runtime makes
of them — the exact input tensors, and the ranked scores it derives from recorded raw
model outputs. ``brainedge-core``'s JUnit tests must reproduce every file.

    python android_demo/tools/make_golden.py            # rewrite the checked-in goldens
    python android_demo/tools/make_golden.py --check    # fail if they drifted from the runtime

Everything is computed from fixed formulas (no random seeds, no clocks), so a rerun
gives the same files.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from brainedge.edge_runtime.backends import Backend, TensorInfo
from brainedge.edge_runtime.classifier import Classifier
from brainedge.edge_runtime.metadata import SCHEMA_FILE, BundleMetadata, InputSpec, OutputSpec, Quantization
from brainedge.edge_runtime.preprocess import decode_rgb, to_input_tensor

ROOT = Path(__file__).resolve().parents[2]

GOLDEN_DIR = ROOT / "android_demo/brainedge-core/src/test/resources/golden"
BRAIN_CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
GENERATED_FOLDERS = ("images", "metadata", "tensors", "outputs", "orientation")
EXIF_ORIENTATION = 0x0112
SCORE_TOLERANCE = 1e-6
"""Softmax goes through float32 exp, whose last bit may differ between CPUs and languages."""


# --- synthetic images ------------------------------------------------------------------


def _texture(height: int, width: int, salt: int) -> np.ndarray:
    """An HxWx3 uint8 pattern with smooth ramps, hard edges, a bright disc and pure 0/255."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    red = x * 255 // max(width - 1, 1)
    green = y * 255 // max(height - 1, 1)
    blue = (x * 37 + y * 11 + salt * 53) % 256
    disc = (2 * x - width) ** 2 + (2 * y - height) ** 2 < (min(height, width) * 3 // 4) ** 2
    image = np.stack([red, green, blue], axis=-1)
    image[disc] = (255 - image[disc]) // 2 + 100
    image[0, :] = 0
    image[-1, :] = 255
    return np.clip(image, 0, 255).astype(np.uint8)


def make_images() -> dict[str, Image.Image]:
    """The reference images: grayscale, non-square, larger and smaller than any model input, RGBA."""
    gray = _texture(50, 41, salt=1).mean(axis=2).astype(np.uint8)
    rgba = _texture(30, 44, salt=5)
    y, x = np.mgrid[0:30, 0:44]
    alpha = ((x * 255) // 43 + (y % 3) * 40).clip(0, 255).astype(np.uint8)
    return {
        "gray_50x41": Image.fromarray(gray, "L"),
        "rgb_nonsquare_37x90": Image.fromarray(_texture(37, 90, salt=2), "RGB"),
        "rgb_large_260x300": Image.fromarray(_texture(260, 300, salt=3), "RGB"),
        "rgb_small_17x23": Image.fromarray(_texture(17, 23, salt=4), "RGB"),
        "rgb_square_64x64": Image.fromarray(_texture(64, 64, salt=6), "RGB"),
        "rgba_30x44": Image.fromarray(np.dstack([rgba, alpha]), "RGBA"),
    }


# --- bundle metadata variants ------------------------------------------------------------


def _metadata(
    variant: str, input_spec: InputSpec, output_spec: OutputSpec, class_names: list[str], threshold: float
) -> BundleMetadata:
    return BundleMetadata(
        model_file="model.tflite",
        model_format="tflite",
        variant=variant,
        model_sha256="0" * 64,
        class_names=class_names,
        input=input_spec,
        output=output_spec,
        confidence_threshold=threshold,
        provenance={"generator": "android_demo/tools/make_golden.py", "note": "no model: golden files"},
    )


def make_metadata() -> dict[str, BundleMetadata]:
    """Every input dtype the kit exports, plus Google's uint8 model's quantization."""
    imagenet_like = [f"class_{i:04d}" for i in range(1001)]
    return {
        "uint8_google": _metadata(
            "uint8-reference",
            InputSpec(64, 64, dtype="uint8", quantization=Quantization(1 / 128, 128)),
            OutputSpec(1001, dtype="uint8", quantization=Quantization(1 / 256, 0)),
            imagenet_like,
            0.5,
        ),
        "int8": _metadata(
            "int8",
            InputSpec(48, 48, dtype="int8", quantization=Quantization(0.007843137718737125, -1)),
            OutputSpec(4, dtype="int8", quantization=Quantization(0.00390625, -128)),
            BRAIN_CLASSES,
            0.6,
        ),
        "float32_logits": _metadata(
            "float32",
            InputSpec(40, 56, mean=IMAGENET_MEAN, std=IMAGENET_STD),
            OutputSpec(4, activation="none"),
            BRAIN_CLASSES,
            0.5,
        ),
        "float32_probs": _metadata(
            "float32", InputSpec(32, 32), OutputSpec(4, activation="softmax"), BRAIN_CLASSES, 0.45
        ),
    }


# --- recorded raw outputs ----------------------------------------------------------------


def _lcg(count: int, salt: int) -> np.ndarray:
    """count pseudo-random integers in [0, 2**16), from a fixed linear congruential sequence."""
    state, values = 12345 + salt, []
    for _ in range(count):
        state = (state * 1103515245 + 12345) % 2**31
        values.append(state >> 15)
    return np.array(values, dtype=np.int64)


def make_raw_outputs() -> list[tuple[str, str, np.ndarray, int]]:
    """(case, metadata variant, raw output row, top_k): confident, uncertain, tied and extreme."""
    confident_u8 = (_lcg(1001, 1) % 3).astype(np.uint8)
    confident_u8[[17, 400, 999]] = [200, 31, 31]
    flat_u8 = (_lcg(1001, 2) % 2).astype(np.uint8)
    flat_u8[[3, 5, 700, 701]] = [90, 90, 90, 60]
    return [
        ("uint8_confident", "uint8_google", confident_u8, 5),
        ("uint8_uncertain_ties", "uint8_google", flat_u8, 5),
        ("int8_confident", "int8", np.array([-128, -120, 127, -100], np.int8), 3),
        ("int8_uncertain", "int8", np.array([-60, -66, -73, -60], np.int8), 4),
        ("logits_confident", "float32_logits", np.array([0.3, -1.25, 4.5, 2.0], np.float32), 3),
        ("logits_uncertain", "float32_logits", np.array([0.1, 0.2, 0.15, 0.05], np.float32), 4),
        ("logits_tied", "float32_logits", np.array([1.5, 2.5, 2.5, 1.5], np.float32), 4),
        ("logits_extreme", "float32_logits", np.array([-80.0, 100.0, 99.75, -1e4], np.float32), 2),
        ("probs_confident", "float32_probs", np.array([0.05, 0.8, 0.1, 0.05], np.float32), 2),
        ("probs_uncertain", "float32_probs", np.array([0.3, 0.2, 0.4, 0.1], np.float32), 4),
    ]


@dataclass
class _RecordedBackend(Backend):
    """Stands in for an interpreter: the tensors the metadata describes, a fixed output."""

    raw: np.ndarray
    spec: BundleMetadata

    def __post_init__(self) -> None:
        shape = (1, self.spec.input.height, self.spec.input.width, self.spec.input.channels)
        self.name = "recorded"
        self.input = TensorInfo(shape, self.spec.input.dtype, self.spec.input.quantization)
        self.output = TensorInfo(
            (1, self.spec.output.num_classes), self.spec.output.dtype, self.spec.output.quantization
        )

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.raw[None]


def _ranked(metadata: BundleMetadata, raw: np.ndarray, top_k: int) -> tuple[np.ndarray, dict]:
    """Python's probabilities and ranking for one recorded output, via the real Classifier."""
    classifier = Classifier(
        _RecordedBackend(raw, metadata),
        metadata.class_names,
        metadata.input,
        metadata.output,
        metadata.confidence_threshold,
    )
    dummy = np.zeros((1, metadata.input.height, metadata.input.width, 3), metadata.input.dtype)
    probabilities = classifier.probabilities(dummy)[0]
    prediction = classifier.rank(probabilities, top_k)
    return probabilities, {
        "uncertain": prediction.uncertain,
        "top_k": [{"label": label, "score": score} for label, score in prediction.top_k],
    }


# --- writing -----------------------------------------------------------------------------


def write_goldens(out: Path) -> None:
    """Write every golden file under out (replacing the old ones), plus cases.json that indexes them."""
    for folder in GENERATED_FOLDERS:
        shutil.rmtree(out / folder, ignore_errors=True)
    images, metadata = make_images(), make_metadata()
    cases: dict[str, list] = {"preprocess": [], "postprocess": []}
    for name, image in images.items():
        _save(out / "images" / f"{name}.png", image)
    for variant, meta in metadata.items():
        _write(out / "metadata" / f"{variant}.json", meta.to_json().encode())
        for name in images:
            rgb = decode_rgb(out / "images" / f"{name}.png")
            tensor = to_input_tensor(rgb, meta.input)
            path = f"tensors/{variant}/{name}.bin"
            _write(out / path, np.ascontiguousarray(tensor).astype(tensor.dtype.newbyteorder("<")).tobytes())
            cases["preprocess"].append(
                {
                    "image": f"images/{name}.png",
                    "metadata": f"metadata/{variant}.json",
                    "tensor": path,
                    "dtype": meta.input.dtype,
                    "shape": list(tensor.shape),
                }
            )
    for case, variant, raw, top_k in make_raw_outputs():
        probabilities, expected = _ranked(metadata[variant], raw, top_k)
        _write(out / "outputs" / f"{case}.raw.bin", raw.astype(raw.dtype.newbyteorder("<")).tobytes())
        _write(out / "outputs" / f"{case}.probs.bin", probabilities.astype("<f4").tobytes())
        cases["postprocess"].append(
            {
                "name": case,
                "metadata": f"metadata/{variant}.json",
                "raw": f"outputs/{case}.raw.bin",
                "raw_dtype": str(raw.dtype),
                "probabilities": f"outputs/{case}.probs.bin",
                "k": top_k,
                "tolerance": SCORE_TOLERANCE,
                **expected,
            }
        )
    cases["orientation"] = write_orientations(out)
    _write(out / "cases.json", (json.dumps(cases, indent=1) + "\n").encode())
    _write(out / "metadata.schema.json", SCHEMA_FILE.read_bytes())  # the Java tests hold BundleMetadata to it


def write_orientations(out: Path) -> list[dict]:
    """A photo's EXIF orientation tag, 1 to 8, applied by the runtime's decode_rgb (exif_transpose)."""
    base = Image.fromarray(_texture(3, 5, salt=7), "RGB")
    _save(out / "orientation" / "base_3x5.png", base)
    cases = []
    for orientation in range(1, 9):
        exif = base.getexif()
        exif[EXIF_ORIENTATION] = orientation
        tagged = io.BytesIO()
        base.save(tagged, format="PNG", exif=exif.tobytes())
        upright = Image.fromarray(decode_rgb(tagged.getvalue()), "RGB")
        path = f"orientation/exif_{orientation}.png"
        _save(out / path, upright)
        cases.append({"base": "orientation/base_3x5.png", "orientation": orientation, "expected": path})
    return cases


def _save(path: Path, image: Image.Image) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG", optimize=False, compress_level=9)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# --- checking ----------------------------------------------------------------------------


def compare_trees(expected: Path, actual: Path) -> list[str]:
    """Differences between two golden trees; PNGs by pixels, scores within SCORE_TOLERANCE."""
    names = {p.relative_to(expected) for p in expected.rglob("*") if p.is_file()}
    fresh = {p.relative_to(actual) for p in actual.rglob("*") if p.is_file()}
    problems = [f"{name}: missing from the checked-in goldens" for name in sorted(fresh - names)]
    problems += [f"{name}: no longer generated" for name in sorted(names - fresh)]
    for name in sorted(names & fresh):
        if not _same_file(expected / name, actual / name):
            problems.append(f"{name}: differs from what the Python runtime produces now")
    return problems


def _same_file(old: Path, new: Path) -> bool:
    if old.suffix == ".png":  # PNG bytes depend on the zlib build; the pixels must not change
        with Image.open(old) as a, Image.open(new) as b:
            return a.mode == b.mode and a.size == b.size and a.tobytes() == b.tobytes()
    if old.name.endswith(".probs.bin"):
        a, b = np.fromfile(old, "<f4"), np.fromfile(new, "<f4")
        return a.shape == b.shape and bool(np.all(np.abs(a - b) <= SCORE_TOLERANCE))
    if old.name == "cases.json":
        return _same_json(json.loads(old.read_text()), json.loads(new.read_text()))
    return old.read_bytes() == new.read_bytes()


def _same_json(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= SCORE_TOLERANCE
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b))
    return a == b


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="regenerate into a temporary folder and compare with the checked-in goldens",
    )
    parser.add_argument("--out", type=Path, default=GOLDEN_DIR, help="where to write (default: %(default)s)")
    args = parser.parse_args(argv)
    if not args.check:
        write_goldens(args.out)
        print(f"wrote golden files to {args.out}")
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        write_goldens(Path(scratch))
        problems = compare_trees(args.out, Path(scratch))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:
        print(f"golden files in {args.out} match the Python runtime")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
