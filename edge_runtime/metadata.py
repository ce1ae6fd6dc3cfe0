"""The model bundle's metadata: the one place that says how to feed a model and read its output.

A bundle is a directory holding the model file, ``labels.txt`` and ``metadata.json``.
Export writes it; this runtime, the benchmarks and the Android app read it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import is_utf8_name, write_text_atomically

SCHEMA_VERSION = 2
"""2 added the head (the model ends in its feature map), calibration, out-of-distribution refusal and
referral; a bundle of version 1 still reads as before: its model outputs the class scores."""
METADATA_FILE = "metadata.json"
LABELS_FILE = "labels.txt"

RESIZE_METHOD = "bilinear_half_pixel"
"""TF's bilinear resize with half-pixel centres and no antialiasing (the only method of schema 1)."""

MOBILENET_MEAN = (127.5, 127.5, 127.5)
MOBILENET_STD = (127.5, 127.5, 127.5)
"""MobileNetV2's [-1, 1] scaling, as ``keras.applications.mobilenet_v2.preprocess_input``: what an
input spec without mean/std means (bundles of schema 1, Google's float models given with --model)."""

TRAINING_PIXEL_MEAN = 128.0
TRAINING_PIXEL_STD = 128.0
"""What models trained here are fed, (pixel - 128) / 128, and what their bundles record as mean/std.
Not 127.5: a uint8 input of an int8 model then holds the pixel itself (scale 1/128, zero point 128),
where 127.5 puts every pixel half a step between two uint8 values. Measured on the 224 px test
split: that half step alone flipped 4 answers of the float model and cost 0.35 points, the whole
loss of its int8 PTQ bundle. The ImageNet weights do not notice the 0.4% change."""

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


@dataclass(frozen=True)
class DenseLayer:
    """One dense layer of the head: ``x @ kernel + bias`` (tensors of the head file), then its activation."""

    kernel: str
    bias: str
    activation: str = "none"
    """"relu" or "none"."""


@dataclass(frozen=True)
class HeadSpec:
    """The model outputs its last feature map (H, W, C); the runtime pools it and applies these layers.

    Keeping the classifier head outside the model file gives every format (float, int8, ONNX) the
    features that out-of-distribution refusal and class-activation maps need, and float logits
    for calibration, where an int8 model's own output would be probabilities in steps of 1/256.
    """

    file: str
    sha256: str
    feature_map: tuple[int, int, int]
    layers: tuple[DenseLayer, ...]
    pooling: str = "average"


@dataclass(frozen=True)
class Calibration:
    """Temperature scaling: probabilities are softmax(logits / temperature), fitted on validation NLL."""

    temperature: float
    method: str = "temperature"
    fit: dict[str, Any] = field(default_factory=dict)
    """Where it was fitted and what it changed (split, count, ECE / NLL / Brier before and after)."""


@dataclass(frozen=True)
class OutOfDistribution:
    """Refusal of inputs unlike the training images: a Mahalanobis distance of the pooled features.

    The distance is to the nearest class mean under one shared covariance, modelled as probabilistic
    PCA: the leading principal directions (``basis``, their ``variances``) plus one
    ``residual_variance`` for all others. Above ``threshold`` the image is not recognised.
    """

    threshold: float
    class_means: str
    basis: str
    variances: str
    residual_variance: float
    method: str = "ppca_mahalanobis"
    fit: dict[str, Any] = field(default_factory=dict)
    """Images it was fitted on, and the validation rejection rate the threshold was set for."""


@dataclass(frozen=True)
class Referral:
    """How ``confidence_threshold`` was chosen: the lowest reaching ``target_accuracy`` on validation."""

    target_accuracy: float
    validation_coverage: float
    validation_accuracy: float
    validation_count: int


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
    head: HeadSpec | None = None
    calibration: Calibration | None = None
    out_of_distribution: OutOfDistribution | None = None
    referral: Referral | None = None
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=False) + "\n"

    def check(self, source: str) -> None:
        """Refuse, before writing, what a reader of the written file would refuse."""
        BundleMetadata.from_dict(json.loads(self.to_json()), source)

    @classmethod
    def from_dict(cls, raw: Any, source: str = "metadata") -> BundleMetadata:
        """Typed metadata from its JSON form, refused with the key, the expectation and the value found."""
        if (
            isinstance(raw, dict)
            and isinstance(raw.get("schema_version"), int)
            and raw["schema_version"] > SCHEMA_VERSION
        ):
            raise BrainEdgeError(
                f"{source}: schema version {raw['schema_version']} is newer than this runtime's "
                f"({SCHEMA_VERSION}); upgrade brainedge"
            )
        problem = schema_problem(raw, metadata_schema())
        if problem:
            raise BrainEdgeError(f"{source}: {problem}")
        fields = dict(raw)
        fields["input"] = spec_from_dict(InputSpec, raw["input"])
        fields["output"] = spec_from_dict(OutputSpec, raw["output"])
        for name, kind in (
            ("calibration", Calibration),
            ("out_of_distribution", OutOfDistribution),
            ("referral", Referral),
        ):
            if raw.get(name) is not None:
                fields[name] = kind(**raw[name])
        if raw.get("head") is not None:
            head = dict(raw["head"])
            head["feature_map"] = tuple(head["feature_map"])
            head["layers"] = tuple(DenseLayer(**layer) for layer in head["layers"])
            fields["head"] = HeadSpec(**head)
        metadata = cls(**fields)
        metadata._check_consistent(source)
        return metadata

    def _check_consistent(self, source: str) -> None:
        """What a schema cannot say: sizes that must agree, quantization an integer tensor needs."""
        for index, name in enumerate(self.class_names):
            problem = class_name_problem(name)
            if problem:
                raise BrainEdgeError(f"{source}: class_names[{index}] {json.dumps(name)} {problem}")
        if self.output.num_classes != len(self.class_names):
            raise BrainEdgeError(
                f"{source}: output.num_classes is {self.output.num_classes} but there are "
                f"{len(self.class_names)} class_names"
            )
        for tensor, spec in (("input", self.input), ("output", self.output)):
            if spec.dtype != "float32" and spec.quantization is None:
                raise BrainEdgeError(f"{source}: {tensor}.dtype is {spec.dtype} but {tensor}.quantization is null")
        if self.schema_version < 2:
            for name in ("head", "calibration", "out_of_distribution", "referral"):
                if getattr(self, name) is not None:
                    raise BrainEdgeError(f"{source}: {name}: needs schema_version 2, found {self.schema_version}")
        for name in ("calibration", "out_of_distribution"):
            if getattr(self, name) is not None and self.head is None:
                raise BrainEdgeError(f"{source}: {name} needs a head (it works on the head's logits and features)")
        if self.head is not None and self.head.file in (self.model_file, self.labels_file, METADATA_FILE):
            raise BrainEdgeError(f"{source}: head.file {self.head.file!r} is another file of the bundle")

    @classmethod
    def read(cls, path: Path) -> BundleMetadata:
        try:
            raw = json.loads(path.read_bytes().decode("utf-8"))
        except FileNotFoundError:
            raise BrainEdgeError(f"{path}: missing (not a model bundle?)") from None
        except IsADirectoryError:
            raise BrainEdgeError(f"{path}: a directory, not a metadata file") from None
        except UnicodeDecodeError as error:
            raise BrainEdgeError(f"{path}: not UTF-8 text (byte {error.start})") from None
        except json.JSONDecodeError as error:
            raise BrainEdgeError(f"{path}: not valid JSON ({error})") from None
        except RecursionError:
            raise BrainEdgeError(f"{path}: nested too deeply to be bundle metadata") from None
        except OSError as error:
            raise BrainEdgeError(f"{path}: cannot be read ({error.strerror})") from None
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


def class_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a class name of a bundle, or None when it can: the rule the data stage
    applies to class folders and metadata.schema.json's class-name pattern states for other readers."""
    if not name:
        return "is empty"
    if not is_utf8_name(name):
        return "is not valid UTF-8"
    if name != name.strip():
        return "has leading or trailing whitespace"
    if any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in name):
        return "contains a line break or control character"
    return None


def read_labels(path: Path) -> list[str]:
    """One class name per line; blank lines at the end are ignored, blank lines inside are not."""
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except FileNotFoundError:
        raise BrainEdgeError(f"{path}: labels file not found") from None
    except UnicodeDecodeError as error:
        raise BrainEdgeError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise BrainEdgeError(f"{path}: cannot be read ({error.strerror})") from None
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise BrainEdgeError(f"{path}: labels file is empty")
    if any(not line.strip() for line in lines):
        raise BrainEdgeError(f"{path}: blank line inside the labels file")
    return [line.strip() for line in lines]


def write_labels(path: Path, class_names: list[str]) -> None:
    write_text_atomically(path, "".join(f"{name}\n" for name in class_names))


SCHEMA_FILE = Path(__file__).with_name("metadata.schema.json")
"""JSON Schema of metadata.json: this runtime and the Android app's tests validate against it."""


@lru_cache(maxsize=1)
def metadata_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


_JSON_TYPES = {"object": dict, "array": list, "string": str, "null": type(None)}


def schema_problem(
    value: Any, schema: dict[str, Any], path: str = "", root: dict[str, Any] | None = None
) -> str | None:
    """The first way ``value`` breaks ``schema`` (the subset of JSON Schema that metadata.schema.json uses).

    Said in the user's terms: which key, what was expected, what was found.
    """
    root = root or schema
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    where = path or "metadata"
    types = schema.get("type")
    if types is not None:
        allowed = [types] if isinstance(types, str) else types
        if not any(_has_type(value, name) for name in allowed):
            return f"{where}: expected {' or '.join(allowed)}, found {_describe(value)}"
    if value is None:
        return None
    if "const" in schema and value != schema["const"]:
        return f"{where}: expected {json.dumps(schema['const'])}, found {_describe(value)}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where}: expected one of {', '.join(map(json.dumps, schema['enum']))}, found {_describe(value)}"
    if "not" in schema and schema_problem(value, schema["not"], path, root) is None:
        return f"{where}: {_describe(value)} is not allowed here"
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        return f"{where}: {_describe(value)} is not a valid value here"
    if _has_type(value, "number"):
        for key, test, said in (
            ("minimum", lambda v, m: v >= m, "at least"),
            ("maximum", lambda v, m: v <= m, "at most"),
            ("exclusiveMinimum", lambda v, m: v > m, "more than"),
        ):
            if key in schema and not test(value, schema[key]):
                return f"{where}: expected a value {said} {schema[key]}, found {_describe(value)}"
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            size = schema.get("minItems") if schema.get("minItems") == schema.get("maxItems") else "enough"
            return f"{where}: expected {size} items, found {len(value)}"
        for index, item in enumerate(value):
            problem = schema_problem(item, schema.get("items", {}), f"{where}[{index}]", root)
            if problem:
                return problem
    if isinstance(value, dict):
        prefix = f"{path}." if path else ""
        for key in schema.get("required", []):
            if key not in value:
                return f"{prefix}{key}: missing"
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key not in properties:
                if schema.get("additionalProperties", True) is False:
                    return f"{prefix}{key}: unexpected key (not part of metadata schema version {SCHEMA_VERSION})"
                continue
            problem = schema_problem(item, properties[key], f"{prefix}{key}", root)
            if problem:
                return problem
    return None


def _has_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _JSON_TYPES[name])


def _describe(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
