"""Golden files that hold the Android app's Java preprocessing to the Python runtime.

The Python runtime (``edge_runtime``) is the reference: this script draws small
synthetic PNGs, writes bundle metadata variants, and records what the runtime makes
of them — the exact input tensors, the ranked scores it derives from recorded raw
model outputs, and the class-activation maps and overlay it draws from them (``explain/``) —
and the one-line message it refuses broken bundles, outputs and maps with
(``cases.json``'s ``refusals``). ``brainedge-core``'s JUnit tests must reproduce every file.

    python android_demo/tools/make_golden.py            # rewrite the checked-in goldens
    python android_demo/tools/make_golden.py --check    # fail if they drifted from the runtime

Everything is computed from fixed formulas (no random seeds, no clocks), so a rerun
gives the same files.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from brainedge.edge_runtime.backends import Backend, TensorInfo
from brainedge.edge_runtime.classifier import NOT_RECOGNISED, UNCERTAIN
from brainedge.edge_runtime.engine import NOT_FINITE, Engine
from brainedge.edge_runtime.errors import BrainEdgeError, OneLineParser
from brainedge.edge_runtime.explain import OVERLAY_ALPHA, VIRIDIS, blend, upsample
from brainedge.edge_runtime.head import Head
from brainedge.edge_runtime.metadata import (
    SCHEMA_FILE,
    BundleMetadata,
    Calibration,
    DenseLayer,
    HeadSpec,
    InputSpec,
    OutOfDistribution,
    OutputSpec,
    Quantization,
    Referral,
)
from brainedge.edge_runtime.preprocess import decode_rgb, to_input_tensor
from brainedge.edge_runtime.tensors import tensors_to_bytes

ROOT = Path(__file__).resolve().parents[2]

GOLDEN_DIR = ROOT / "android_demo/brainedge-core/src/test/resources/golden"
BRAIN_CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
GENERATED_FOLDERS = ("images", "metadata", "tensors", "outputs", "orientation", "heads", "explain")
EXIF_ORIENTATION = 0x0112
SCORE_TOLERANCE = 1e-6
"""Probabilities go through exp, whose last bit may differ between CPUs and languages."""
FEATURE_TOLERANCE = 1e-9
"""Pooled features and logits are float64 sums, whose order BLAS and Java choose differently."""
DECISION_MARGIN = 1e-4
"""Every head case keeps its ranking, uncertainty and out-of-distribution decision this far (relative
for the OOD score) from flipping, so the Java core must reproduce the decisions exactly."""
SCHEMA_2_KEYS = ("head", "calibration", "out_of_distribution", "referral")
MAP_TOLERANCE = 1e-5
"""Class-activation maps (float64) and their upsampled float32 form: the tolerance issue 18 sets Java."""
UPSAMPLED_SIZE = (13, 9)
"""Height and width the maps are upsampled to: small, odd, neither a multiple of the maps' 2 x 2."""
OVERLAY_IMAGE = "images/rgb_square_64x64.png"


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


def schema_1_document(metadata: BundleMetadata, source: str) -> bytes:
    """metadata.json as the schema 1 runtime wrote it (no head, calibration, OOD or referral keys).

    The four classic variants stay old bundles, so the Java tests prove such bundles still read
    and postprocess as before; the Python runtime is asked to read each one back.
    """
    raw = json.loads(metadata.to_json())
    for key in SCHEMA_2_KEYS:
        if raw.pop(key) is not None:
            raise ValueError(f"{source}: a schema 1 bundle has no {key}")
    raw["schema_version"] = 1
    text = json.dumps(raw, indent=2) + "\n"
    BundleMetadata.from_dict(json.loads(text), source)
    return text.encode()


# --- bundles with a head (schema 2) ------------------------------------------------------

HEAD_FILE = "head.safetensors"
"""What every head variant's metadata names; the goldens keep the files as heads/<head>.safetensors."""


def _uniform(count: int, salt: int) -> np.ndarray:
    """count values in [-1, 1), multiples of 2**-15: exact in float32 and the same on every machine."""
    return _lcg(count, salt) / 2.0**15 - 1.0


def _orthonormal(rows: int, columns: int, salt: int) -> np.ndarray:
    """A rows x columns matrix with orthonormal columns, by Gram-Schmidt in plain Python floats
    (LAPACK's QR may differ in the last bit between machines; these sums do not)."""
    basis: list[list[float]] = []
    for candidate in _uniform(rows * columns, salt).reshape(columns, rows).tolist():
        for vector in basis:
            dot = sum(a * b for a, b in zip(candidate, vector))
            candidate = [a - dot * b for a, b in zip(candidate, vector)]
        norm = math.sqrt(sum(a * a for a in candidate))
        basis.append([a / norm for a in candidate])
    return np.array(basis).T


def _centre(rows: np.ndarray) -> np.ndarray:
    """The mean row, summed with math.fsum: numpy's reductions and BLAS may round differently between
    machines, and the head file and feature maps built from it are compared byte for byte."""
    return np.array([math.fsum(column) / len(rows) for column in rows.T.tolist()])


def _orthogonal(vector: list[float], others: list[list[float]]) -> list[float]:
    """The unit vector along ``vector``'s part orthogonal to every one of ``others`` (plain Python floats)."""
    basis: list[list[float]] = []
    for candidate in [*others, vector]:
        for unit in basis:
            dot = sum(a * b for a, b in zip(candidate, unit))
            candidate = [a - dot * b for a, b in zip(candidate, unit)]
        norm = math.sqrt(sum(a * a for a in candidate))
        if norm > 1e-9:
            basis.append([a / norm for a in candidate])
    return basis[-1]


@dataclass(frozen=True)
class _HeadDesign:
    """One synthetic head file: dense layers, class means and a PPCA covariance of ``channels`` features."""

    channels: int
    hidden: bool
    variances: tuple[float, ...]
    residual_variance: float
    salt: int


HEADS = {
    "hidden_relu": _HeadDesign(16, True, (0.5, 0.3, 0.2, 0.12, 0.08), 0.05, salt=10),
    "single": _HeadDesign(8, False, (0.4, 0.2, 0.1), 0.06, salt=20),
}
"""Two heads: a hidden relu layer (16 -> 8 -> 4) and a single layer (8 -> 4); both keep k < C directions."""


def make_head(design: _HeadDesign) -> tuple[tuple[DenseLayer, ...], dict[str, np.ndarray]]:
    """The head's layers and its tensors (weights, class means, basis, variances), stored as float32.

    The logits are a nearest-class-mean rule plus a little noise, so an image near a class mean is
    that class. The hidden head computes the same rule through relu(x) - relu(-x): half of its
    hidden units are zero for any image, which the relu must get right.
    """
    classes = len(BRAIN_CLASSES)
    means = 1.5 + _uniform(classes * design.channels, design.salt).reshape(classes, design.channels)
    centre = _centre(means)
    centred = means - centre
    kernel = 1.5 * centred.T  # logit c = 1.5 (f.d_c - m.d_c - |d_c|^2 / 2): nearest mean wins
    bias = -1.5 * np.array([math.fsum(centre * row) + math.fsum(row * row) / 2 for row in centred])
    if design.hidden:
        weights = [
            ("dense_0", np.hstack([kernel, -kernel]), np.concatenate([bias, -bias]), "relu"),
            ("logits", np.vstack([np.eye(classes), -np.eye(classes)]), np.zeros(classes), "none"),
        ]
    else:
        weights = [("logits", kernel, bias, "none")]
    layers, tensors = [], {}
    for index, (name, kernel, bias, activation) in enumerate(weights):
        noise = _uniform(kernel.size + bias.size, design.salt + 1 + index)
        tensors[f"{name}.kernel"] = kernel + 0.05 * noise[: kernel.size].reshape(kernel.shape)
        tensors[f"{name}.bias"] = bias + 0.05 * noise[kernel.size :]
        layers.append(DenseLayer(f"{name}.kernel", f"{name}.bias", activation))
    tensors["ood.class_means"] = means
    tensors["ood.basis"] = _orthonormal(design.channels, len(design.variances), design.salt + 8)
    tensors["ood.variances"] = np.array(design.variances)
    return tuple(layers), {name: array.astype(np.float32) for name, array in tensors.items()}


@dataclass(frozen=True)
class _HeadVariant:
    head: str
    feature_map: tuple[int, int, int]
    output: OutputSpec
    temperature: float | None
    ood_threshold: float | None
    confidence_threshold: float


HEAD_VARIANTS = {
    "head_float32": _HeadVariant("hidden_relu", (3, 3, 16), OutputSpec(4), 1.7, 40.0, 0.6),
    "head_int8": _HeadVariant(
        "hidden_relu", (3, 3, 16), OutputSpec(4, "int8", Quantization(0.05, -128)), 1.7, 40.0, 0.6
    ),
    "head_uint8": _HeadVariant("single", (2, 2, 8), OutputSpec(4, "uint8", Quantization(6 / 255, 0)), 0.8, 25.0, 0.7),
    "head_plain": _HeadVariant("single", (2, 2, 8), OutputSpec(4), None, None, 0.5),
}
"""Float32, int8 and uint8 feature maps; ``head_plain`` has neither calibration nor an OOD model."""


def make_head_metadata(heads: dict[str, bytes]) -> dict[str, BundleMetadata]:
    """Schema 2 metadata of each head variant, its head file's SHA-256 included."""
    variants = {}
    for name, variant in HEAD_VARIANTS.items():
        layers, _ = make_head(HEADS[variant.head])
        design = HEADS[variant.head]
        metadata = _metadata(name, InputSpec(32, 32), variant.output, BRAIN_CLASSES, variant.confidence_threshold)
        metadata.head = HeadSpec(
            HEAD_FILE, hashlib.sha256(heads[variant.head]).hexdigest(), variant.feature_map, layers
        )
        if variant.temperature is not None:
            metadata.calibration = Calibration(variant.temperature, fit={"split": "val", "note": "synthetic"})
        if variant.ood_threshold is not None:
            metadata.out_of_distribution = OutOfDistribution(
                variant.ood_threshold,
                "ood.class_means",
                "ood.basis",
                "ood.variances",
                design.residual_variance,
                fit={"components": len(design.variances), "note": "synthetic"},
            )
        if name == "head_float32":
            metadata.referral = Referral(0.95, 0.8125, 0.953125, 64)
        metadata.check(name)
        variants[name] = metadata
    return variants


def _spread(pooled: np.ndarray, feature_map: tuple[int, int, int], amplitude: float) -> np.ndarray:
    """An H x W x C feature map whose average over H x W is ``pooled``: each channel varies by position."""
    height, width, channels = feature_map
    positions = height * width
    offsets = (np.arange(positions)[:, None] + np.arange(channels)[None, :]) % positions - (positions - 1) / 2
    return (pooled[None, :] + amplitude * offsets).reshape(height, width, channels)


def make_feature_maps(variant: _HeadVariant) -> list[tuple[str, np.ndarray, bool | None]]:
    """(case, raw output, whether it must be out of distribution): one near each class mean, one
    between two classes, one far from every class, one far from a class mean but confidently that
    class (moved from its mean only across the directions that tell classes apart, yet not
    recognised); quantized as the variant's output is."""
    means = make_head(HEADS[variant.head])[1]["ood.class_means"].astype(np.float64)
    channels = variant.feature_map[2]
    pooled = [
        (f"near_{label}", means[c] + 0.2 * _uniform(channels, 30 + c), False) for c, label in enumerate(BRAIN_CLASSES)
    ]
    pooled.append(("between", (means[0] + means[3]) / 2 + 0.1 * _uniform(channels, 40), None))
    pooled.append(("far", _centre(means) + 2.0 * _uniform(channels, 41), True))
    aside = _orthogonal(_uniform(channels, 42).tolist(), (means - _centre(means)).tolist())
    pooled.append(("far_confident", means[1] + 2.0 * np.array(aside), True))
    cases = []
    for case, values, ood in pooled:
        real = _spread(values, variant.feature_map, 0.4 / (variant.feature_map[0] * variant.feature_map[1]))
        raw = _quantized(real, variant.output)
        cases.append((case, raw, None if variant.ood_threshold is None else ood))
    return cases


def write_heads(out: Path) -> tuple[dict[str, BundleMetadata], list[dict]]:
    """Head files, schema 2 metadata and what the Python Engine and Head make of each feature map."""
    heads = {name: tensors_to_bytes(make_head(design)[1]) for name, design in HEADS.items()}
    for name, data in heads.items():
        _write(out / "heads" / f"{name}.safetensors", data)
    metadata = make_head_metadata(heads)
    cases = []
    for variant_name, variant in HEAD_VARIANTS.items():
        meta = metadata[variant_name]
        with tempfile.TemporaryDirectory() as scratch:
            Path(scratch, HEAD_FILE).write_bytes(heads[variant.head])
            head = Head.load(Path(scratch), meta)
        for case, raw, must_be_ood in make_feature_maps(variant):
            name = f"{variant_name}_{case}"
            outputs, prediction = _head_answer(meta, head, raw)
            _check_decisive(name, meta, outputs.probabilities[0], prediction, must_be_ood)
            _write(out / "outputs" / f"{name}.raw.bin", raw.astype(raw.dtype.newbyteorder("<")).tobytes())
            _write(out / "outputs" / f"{name}.features.bin", outputs.features[0].astype("<f8").tobytes())
            _write(out / "outputs" / f"{name}.probs.bin", outputs.probabilities[0].astype("<f4").tobytes())
            cases.append(
                {
                    "name": name,
                    "metadata": f"metadata/{variant_name}.json",
                    "head": f"heads/{variant.head}.safetensors",
                    "raw": f"outputs/{name}.raw.bin",
                    "raw_dtype": str(raw.dtype),
                    "features": f"outputs/{name}.features.bin",
                    "logits": [float(v) for v in outputs.logits[0]],
                    "feature_tolerance": FEATURE_TOLERANCE,
                    "probabilities": f"outputs/{name}.probs.bin",
                    "k": len(BRAIN_CLASSES),
                    "tolerance": SCORE_TOLERANCE,
                    "uncertain": prediction.uncertain,
                    "ood": prediction.out_of_distribution,
                    "ood_score": prediction.ood_score,
                    "ood_relative_tolerance": SCORE_TOLERANCE,
                    "top_k": [{"label": label, "score": score} for label, score in prediction.top_k],
                }
            )
    return metadata, cases


def _head_answer(metadata: BundleMetadata, head: Head, raw: np.ndarray) -> tuple:
    """The real engine's run and rank (the steps Classifier takes) of one recorded feature map, through the head."""
    engine = _recorded_engine(metadata, raw, head)
    dummy = np.zeros((1, metadata.input.height, metadata.input.width, 3), metadata.input.dtype)
    outputs = engine.run(dummy)
    score = None if outputs.ood_scores is None else outputs.ood_scores[0]
    return outputs, engine.rank(outputs.probabilities[0], len(BRAIN_CLASSES), score)


def _check_decisive(name: str, metadata: BundleMetadata, probabilities: np.ndarray, prediction, must_be_ood) -> None:
    """Refuse a case whose ranking or decisions a last-bit difference could flip, or that is not what it claims."""
    ordered = np.sort(probabilities.astype(np.float64))[::-1]
    problems = []
    if np.min(ordered[:-1] - ordered[1:]) <= DECISION_MARGIN:
        problems.append("two classes score within the margin")
    if abs(ordered[0] - metadata.confidence_threshold) <= DECISION_MARGIN:
        problems.append("the top score is at the confidence threshold")
    ood = metadata.out_of_distribution
    if ood is not None and abs(prediction.ood_score - ood.threshold) <= DECISION_MARGIN * ood.threshold:
        problems.append("the OOD score is at its threshold")
    if must_be_ood is not None and prediction.out_of_distribution is not must_be_ood:
        problems.append(f"out_of_distribution is {prediction.out_of_distribution}, the case needs {must_be_ood}")
    if problems:
        raise ValueError(f"head case {name}: {'; '.join(problems)}; change its design")


# --- class-activation maps (issue 18) -----------------------------------------------------


def _mosaic(variant: _HeadVariant) -> np.ndarray:
    """A feature map whose every position leans towards another class (position p towards class
    p mod 4), quantized as the variant's output is: each class's map is bright in some places and
    zero in others, which the near/far cases (every position alike) never show."""
    means = make_head(HEADS[variant.head])[1]["ood.class_means"].astype(np.float64)
    height, width, channels = variant.feature_map
    centre = _centre(means)
    positions = [
        centre + 1.5 * (means[p % len(means)] - centre) + 0.3 * _uniform(channels, 50 + p)
        for p in range(height * width)
    ]
    return _quantized(np.array(positions).reshape(height, width, channels), variant.output)


def _quantized(real: np.ndarray, spec: OutputSpec) -> np.ndarray:
    if spec.quantization is None:
        return real.astype(np.float32)
    info = np.iinfo(spec.dtype)
    quantized = np.rint(real / spec.quantization.scale) + spec.quantization.zero_point
    return np.clip(quantized, info.min, info.max).astype(spec.dtype)


def _load_head(out: Path, variant: str, metadata: BundleMetadata) -> Head:
    with tempfile.TemporaryDirectory() as scratch:
        Path(scratch, HEAD_FILE).write_bytes((out / f"heads/{HEAD_VARIANTS[variant].head}.safetensors").read_bytes())
        return Head.load(Path(scratch), metadata)


def write_class_maps(out: Path, head_metadata: dict[str, BundleMetadata]) -> dict[str, Any]:
    """What the Python runtime draws for each head of one dense layer: the map of the top class (through
    ``Engine.classify(explain=True)``) and of the runner-up for every head case, of all four classes
    for a mosaic feature map, each also upsampled to UPSAMPLED_SIZE; one overlay over a golden image;
    the viridis table and the blend's alpha."""
    maps, overlays = [], []
    height, width = UPSAMPLED_SIZE
    for variant_name, variant in HEAD_VARIANTS.items():
        meta = head_metadata[variant_name]
        if len(meta.head.layers) != 1:
            continue
        head = _load_head(out, variant_name, meta)
        recorded = [(f"{variant_name}_{case}", f"outputs/{variant_name}_{case}.raw.bin", raw)
                    for case, raw, _ in make_feature_maps(variant)]  # fmt: skip
        mosaic = f"explain/{variant_name}_mosaic.raw.bin"
        _write(out / mosaic, _as_le_bytes(_mosaic(variant)))
        recorded.append((f"{variant_name}_mosaic", mosaic, _mosaic(variant)))
        for name, raw_path, raw in recorded:
            engine = _recorded_engine(meta, raw, head)
            dummy = np.zeros((meta.input.height, meta.input.width, 3), np.uint8)
            prediction = engine.classify(dummy, top_k=len(BRAIN_CLASSES), explain=True)
            ranked = [BRAIN_CLASSES.index(label) for label, _ in prediction.top_k]
            feature_map = engine.model_output(engine.preprocess(dummy))[0]
            classes = ranked if name.endswith("_mosaic") else ranked[:2]
            for class_index in classes:
                class_map = head.class_map(feature_map, class_index)
                if class_index == ranked[0] and not np.array_equal(class_map, prediction.class_map):
                    raise ValueError(f"{name}: classify(explain=True) drew another map than Head.class_map")
                stem = f"explain/{name}.class{class_index}"
                upsampled = upsample(class_map, height, width)
                _write(out / f"{stem}.map.bin", class_map.astype("<f8").tobytes())
                _write(out / f"{stem}.upsampled.bin", upsampled.astype("<f4").tobytes())
                maps.append(
                    {
                        "name": name,
                        "metadata": f"metadata/{variant_name}.json",
                        "head": f"heads/{variant.head}.safetensors",
                        "raw": raw_path,
                        "raw_dtype": str(raw.dtype),
                        "class": class_index,
                        "top": class_index == ranked[0],
                        "map": f"{stem}.map.bin",
                        "map_shape": list(class_map.shape),
                        "upsampled": f"{stem}.upsampled.bin",
                        "upsampled_shape": [height, width],
                        "tolerance": MAP_TOLERANCE,
                    }
                )
                if name == "head_plain_mosaic" and class_index == ranked[0]:
                    overlays.append(_write_overlay(out, maps[-1], class_map))
    _check_map_coverage(out, maps)
    return {
        "viridis": VIRIDIS.tobytes().hex(),
        "alpha": OVERLAY_ALPHA,
        "maps": maps,
        "overlays": overlays,
    }


def _write_overlay(out: Path, case: dict, class_map: np.ndarray) -> dict:
    """``explain.blend`` of a golden image: the arithmetic of the overlay the app draws (its caption and
    display size are the app's own), held to the Java blend on every row (``first_row`` 0)."""
    pixels = decode_rgb(out / OVERLAY_IMAGE)
    blended = blend(pixels, class_map)
    path = f"explain/{case['name']}.class{case['class']}.overlay.png"
    _save(out / path, Image.fromarray(blended, "RGB"))
    recorded = {key: case[key] for key in ("name", "metadata", "head", "raw", "raw_dtype", "class", "map")}
    return {**recorded, "image": OVERLAY_IMAGE, "overlay": path, "first_row": 0}


def _check_map_coverage(out: Path, maps: list[dict]) -> None:
    """The maps must include an all-zero one and one that is zero in some places only."""
    values = [np.fromfile(out / case["map"], "<f8") for case in maps]
    if not any((v == 0).all() for v in values) or not any((v == 0).any() and (v > 0).any() for v in values):
        raise ValueError("the class-map goldens need an all-zero map and a partly zero one; change the mosaic")


def make_class_map_refusals(out: Path, head_metadata: dict[str, BundleMetadata]) -> list[dict]:
    """A head with a hidden layer draws no map; a class index outside the head's classes is refused."""
    cases = []
    for variant, class_index in (("head_float32", 0), ("head_plain", 4), ("head_plain", -1)):
        meta = head_metadata[variant]
        head = _load_head(out, variant, meta)
        feature_map = np.zeros(HEAD_VARIANTS[variant].feature_map, np.float32)
        message = _refusal(head.class_map, feature_map, class_index)
        if message is None:
            raise ValueError(f"{variant}: class_map({class_index}) was drawn")
        cases.append(
            {
                "metadata": f"metadata/{variant}.json",
                "head": f"heads/{HEAD_VARIANTS[variant].head}.safetensors",
                "class": class_index,
                "message": message,
            }
        )
    return cases


def _as_le_bytes(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()


# --- refusals ------------------------------------------------------------------------------


def _refusal(function: Callable[..., object], *args: object) -> str | None:
    """The one-line message ``function(*args)`` of the Python runtime refuses with, or None where it accepts."""
    try:
        function(*args)
    except BrainEdgeError as error:
        return str(error)
    return None


def make_metadata_refusals(head_metadata: dict[str, BundleMetadata]) -> list[dict]:
    """Schema 1 documents that claim a schema 2 part, each refused by name; null parts are accepted.

    One document per part (the others null) proves each is checked; all four at once proves the
    order (head first); calibration alone proves the version is refused before "needs a head".
    """
    full = json.loads(head_metadata["head_float32"].to_json())
    documents = {f"schema_1_{key}": {key: full[key]} for key in SCHEMA_2_KEYS}
    documents["schema_1_every_part"] = {key: full[key] for key in SCHEMA_2_KEYS}
    documents["schema_1_null_parts"] = {}
    cases = []
    for name, parts in documents.items():
        document = {**full, **dict.fromkeys(SCHEMA_2_KEYS), **parts, "schema_version": 1}
        message = _refusal(BundleMetadata.from_dict, document, "metadata.json")
        cases.append({"name": name, "document": document, "message": message})
    return cases


def _float_offset(data: bytes, tensor: str, index: int) -> int:
    """Byte offset in a safetensors file of value ``index`` of ``tensor``."""
    header_length = int.from_bytes(data[:8], "little")
    start = json.loads(data[8 : 8 + header_length])[tensor]["data_offsets"][0]
    return 8 + header_length + start + 4 * index


def _patched(data: bytes, offset: int, value: str) -> bytes:
    patched = bytearray(data)
    patched[offset : offset + 4] = np.float32(float(value)).astype("<f4").tobytes()
    return bytes(patched)


NON_FINITE = ("NaN", "Infinity", "-Infinity")
"""As Java's Float.parseFloat and Python's float() both read them."""


def make_head_refusals(out: Path, head_metadata: dict[str, BundleMetadata]) -> list[dict]:
    """A head file with one value patched to NaN or an infinity, in each tensor the head computes with."""
    cases = []
    for variant, tensor, index in (
        ("head_float32", "dense_0.kernel", 5),
        ("head_float32", "logits.bias", 1),
        ("head_float32", "ood.class_means", 17),
        ("head_uint8", "ood.basis", 2),
        ("head_uint8", "ood.variances", 0),
    ):
        metadata = head_metadata[variant]
        head_golden = f"heads/{HEAD_VARIANTS[variant].head}.safetensors"
        data = (out / head_golden).read_bytes()
        offset = _float_offset(data, tensor, index)
        for value in NON_FINITE:
            with tempfile.TemporaryDirectory() as scratch:
                Path(scratch, HEAD_FILE).write_bytes(_patched(data, offset, value))
                message = _refusal(Head.load, Path(scratch), metadata)
            prefix = f"{Path(scratch, HEAD_FILE)}: "
            if message is None or not message.startswith(prefix):
                raise ValueError(f"{head_golden} with {tensor}[{index}] = {value}: refused as {message!r}")
            cases.append(
                {
                    "metadata": f"metadata/{variant}.json",
                    "head": head_golden,
                    "tensor": tensor,
                    "offset": offset,
                    "value": value,
                    "message": f"{HEAD_FILE}: {message[len(prefix) :]}",
                }
            )
    return cases


def make_output_refusals(out: Path, metadata: dict[str, BundleMetadata]) -> list[dict]:
    """A float32 model output with one value patched to NaN or an infinity: no answer, never a ranking."""
    cases = []
    for variant, raw_golden, head_golden, index in (
        ("float32_logits", "outputs/logits_confident.raw.bin", None, 2),
        ("float32_probs", "outputs/probs_confident.raw.bin", None, 0),
        ("head_float32", "outputs/head_float32_near_glioma.raw.bin", "heads/hidden_relu.safetensors", 7),
        ("head_plain", "outputs/head_plain_far.raw.bin", "heads/single.safetensors", 31),
    ):
        meta = metadata[variant]
        raw = np.frombuffer((out / raw_golden).read_bytes(), "<f4")
        head = None
        if head_golden:
            with tempfile.TemporaryDirectory() as scratch:
                Path(scratch, HEAD_FILE).write_bytes((out / head_golden).read_bytes())
                head = Head.load(Path(scratch), meta)
        for value in NON_FINITE:
            patched = raw.copy()
            patched[index] = float(value)
            engine = Engine(
                _RecordedBackend(patched, meta), meta.class_names, meta.input, meta.output, meta.confidence_threshold,
                head=head,
            )  # fmt: skip
            dummy = np.zeros((1, meta.input.height, meta.input.width, 3), meta.input.dtype)
            message = _refusal(engine.run, dummy)
            if message is None:
                raise ValueError(f"{raw_golden} with value {index} = {value} was answered")
            cases.append(
                {
                    "metadata": f"metadata/{variant}.json",
                    "head": head_golden,
                    "raw": raw_golden,
                    "offset": 4 * index,
                    "value": value,
                    "message": message,
                }
            )
    return cases


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
        head = self.spec.head
        output_shape = (1, *head.feature_map) if head else (1, self.spec.output.num_classes)
        self.output = TensorInfo(output_shape, self.spec.output.dtype, self.spec.output.quantization)

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.raw[None]


def _recorded_engine(metadata: BundleMetadata, raw: np.ndarray, head: Head | None = None) -> Engine:
    """The real Engine (the steps Classifier takes), with a backend that returns a recorded model output."""
    return Engine(
        _RecordedBackend(raw, metadata),
        metadata.class_names,
        metadata.input,
        metadata.output,
        metadata.confidence_threshold,
        head=head,
    )


def _ranked(metadata: BundleMetadata, raw: np.ndarray, top_k: int) -> tuple[np.ndarray, dict]:
    """Python's probabilities and ranking for one recorded output, via the real Engine."""
    engine = _recorded_engine(metadata, raw)
    dummy = np.zeros((1, metadata.input.height, metadata.input.width, 3), metadata.input.dtype)
    probabilities = engine.probabilities(dummy)[0]
    prediction = engine.rank(probabilities, top_k)
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
    cases: dict[str, Any] = {"preprocess": [], "postprocess": []}
    for name, image in images.items():
        _save(out / "images" / f"{name}.png", image)
    for variant, meta in metadata.items():
        _write(out / "metadata" / f"{variant}.json", schema_1_document(meta, f"metadata/{variant}.json"))
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
    head_metadata, cases["head"] = write_heads(out)
    for variant, meta in head_metadata.items():
        _write(out / "metadata" / f"{variant}.json", meta.to_json().encode())
    cases["orientation"] = write_orientations(out)
    cases["phrases"] = {"uncertain": UNCERTAIN, "not_recognised": NOT_RECOGNISED, "not_finite": NOT_FINITE}
    every_metadata = {**metadata, **head_metadata}
    cases["explain"] = write_class_maps(out, head_metadata)
    cases["refusals"] = {
        "metadata": make_metadata_refusals(head_metadata),
        "heads": make_head_refusals(out, head_metadata),
        "outputs": make_output_refusals(out, every_metadata),
        "class_maps": make_class_map_refusals(out, head_metadata),
    }
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
    if old.name.endswith(".features.bin"):
        a, b = np.fromfile(old, "<f8"), np.fromfile(new, "<f8")
        return a.shape == b.shape and bool(np.allclose(a, b, rtol=FEATURE_TOLERANCE, atol=FEATURE_TOLERANCE))
    if old.name.endswith(".map.bin"):
        a, b = np.fromfile(old, "<f8"), np.fromfile(new, "<f8")
        return a.shape == b.shape and bool(np.allclose(a, b, rtol=FEATURE_TOLERANCE, atol=FEATURE_TOLERANCE))
    if old.name.endswith(".upsampled.bin"):
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
    parser = OneLineParser(prog="python android_demo/tools/make_golden.py", description=__doc__.split("\n\n")[0])
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
