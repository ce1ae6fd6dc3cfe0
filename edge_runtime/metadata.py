"""The model bundle's metadata: the one place that says how to feed a model and read its output.

A bundle is a directory holding the model file, ``labels.txt`` and ``metadata.json``.
Export writes it; this runtime, the benchmarks and the Android app read it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_runtime.errors import BrainEdgeError

SCHEMA_VERSION = 1
METADATA_FILE = "metadata.json"
LABELS_FILE = "labels.txt"

RESIZE_METHOD = "bilinear_half_pixel"
"""TF's bilinear resize with half-pixel centres and no antialiasing (the only method of schema 1)."""

MOBILENET_MEAN = (127.5, 127.5, 127.5)
MOBILENET_STD = (127.5, 127.5, 127.5)
"""MobileNetV2's [-1, 1] scaling, as ``keras.applications.mobilenet_v2.preprocess_input``."""

DEFAULT_CONFIDENCE_THRESHOLD = 0.5


@dataclass(frozen=True)
class Quantization:
    """Affine quantization of a tensor: real = (q - zero_point) * scale."""

    scale: float
    zero_point: int


@dataclass(frozen=True)
class InputSpec:
    height: int
    width: int
    channels: int = 3
    color_mode: str = "RGB"
    dtype: str = "float32"
    quantization: Quantization | None = None
    resize_method: str = RESIZE_METHOD
    mean: tuple[float, ...] = MOBILENET_MEAN
    std: tuple[float, ...] = MOBILENET_STD


@dataclass(frozen=True)
class OutputSpec:
    num_classes: int
    dtype: str = "float32"
    quantization: Quantization | None = None
    activation: str = "softmax"
    """"softmax" when the model outputs probabilities, "none" when it outputs logits."""


@dataclass
class BundleMetadata:
    model_file: str
    model_format: str
    variant: str
    model_sha256: str
    class_names: list[str]
    input: InputSpec
    output: OutputSpec
    confidence_threshold: float = DEFAULT_CONFIDENCE_THRESHOLD
    provenance: dict[str, Any] = field(default_factory=dict)
    verification: dict[str, Any] = field(default_factory=dict)
    labels_file: str = LABELS_FILE
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "metadata") -> BundleMetadata:
        version = raw.get("schema_version")
        if not isinstance(version, int):
            raise BrainEdgeError(f"{source}: no integer schema_version")
        if version > SCHEMA_VERSION:
            raise BrainEdgeError(
                f"{source}: schema version {version} is newer than this runtime's "
                f"({SCHEMA_VERSION}); upgrade brainedge"
            )
        try:
            fields = dict(raw)
            fields["input"] = spec_from_dict(InputSpec, raw["input"])
            fields["output"] = spec_from_dict(OutputSpec, raw["output"])
            return cls(**fields)
        except (KeyError, TypeError) as error:
            raise BrainEdgeError(f"{source}: malformed bundle metadata ({error})") from None

    @classmethod
    def read(cls, path: Path) -> BundleMetadata:
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise BrainEdgeError(f"{path}: missing (not a model bundle?)") from None
        except json.JSONDecodeError as error:
            raise BrainEdgeError(f"{path}: not valid JSON ({error})") from None
        return cls.from_dict(raw, str(path))


def spec_from_dict(kind: type, raw: dict[str, Any]) -> Any:
    """InputSpec or OutputSpec from its JSON form (lists back to tuples, quantization typed)."""
    values = dict(raw)
    if values.get("quantization") is not None:
        values["quantization"] = Quantization(**values["quantization"])
    for name in ("mean", "std"):
        if name in values:
            values[name] = tuple(values[name])
    return kind(**values)


def read_labels(path: Path) -> list[str]:
    """One class name per line; blank lines at the end are ignored, blank lines inside are not."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BrainEdgeError(f"{path}: labels file not found") from None
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise BrainEdgeError(f"{path}: labels file is empty")
    if any(not line.strip() for line in lines):
        raise BrainEdgeError(f"{path}: blank line inside the labels file")
    return [line.strip() for line in lines]


def write_labels(path: Path, class_names: list[str]) -> None:
    path.write_text("".join(f"{name}\n" for name in class_names), encoding="utf-8")
