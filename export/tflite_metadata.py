"""TFLite model metadata, embedded the way the LiteRT support library and Android Studio read it.

A ``.tflite`` file carries a ``TFLITE_METADATA`` entry whose buffer is a ``ModelMetadata``
flatbuffer (tflite-support's ``metadata_schema.fbs``, file identifier ``M001``): the input
is an RGB image normalized with mean/std, the output is class probabilities whose axis
labels are ``labels.txt``. The labels file itself is appended to the model as a zip
archive, which is what the support library's ``MetadataExtractor`` opens. The result is
what tflite-support's ``ImageClassifierWriter`` produces; it is written here by hand
because tflite-support pins protobuf<4, which TensorFlow 2.21 cannot live with.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence

import flatbuffers
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

from brainedge.edge_runtime.metadata import LABELS_FILE, InputSpec

METADATA_NAME = "TFLITE_METADATA"
METADATA_IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.0.0"
"""What tflite-support computes for these fields (image properties, normalization, stats, labels)."""

# Enum values and field slots of metadata_schema.fbs (tflite-support, schema version 1).
_IMAGE_PROPERTIES, _FEATURE_PROPERTIES = 2, 1  # ContentProperties union
_NORMALIZATION_OPTIONS = 1  # ProcessUnitOptions union
_RGB = 1  # ColorSpaceType
_TENSOR_AXIS_LABELS = 2  # AssociatedFileType


def embed_metadata(
    model: bytes,
    name: str,
    description: str,
    version: str,
    class_names: Sequence[str],
    spec: InputSpec,
    input_dtype: str,
    output_dtype: str,
    author: str = "BrainEdge",
    license_text: str = "Apache-2.0",
    feature_map_output: bool = False,
) -> bytes:
    """Model bytes with a TFLITE_METADATA buffer and ``labels.txt`` packed as an appended zip.

    ``feature_map_output``: the model ends in its last feature map (a bundle with a head), which
    the metadata then describes as features, not as probabilities of the labels.
    """
    metadata = model_metadata(
        name, description, version, spec, input_dtype, output_dtype, author, license_text, feature_map_output
    )
    labels = "".join(f"{label}\n" for label in class_names).encode("utf-8")
    return append_files(with_metadata_buffer(model, metadata), {LABELS_FILE: labels})


def with_metadata_buffer(model: bytes, metadata: bytes) -> bytes:
    """Add (or replace) the TFLITE_METADATA buffer of a flatbuffer model."""
    tree = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    tree.metadata = tree.metadata or []
    existing = [entry for entry in tree.metadata if entry.name.decode() == METADATA_NAME]
    buffer = schema.BufferT()
    buffer.data = metadata
    if existing:
        tree.buffers[existing[0].buffer] = buffer
    else:
        tree.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = METADATA_NAME
        entry.buffer = len(tree.buffers) - 1
        tree.metadata.append(entry)
    return flatbuffer_utils.convert_object_to_bytearray(tree)


def append_files(model: bytes, files: dict[str, bytes]) -> bytes:
    """Append files as a zip archive (stored, fixed timestamps: the same model gives the same bytes)."""
    stream = io.BytesIO(model)
    stream.seek(0, io.SEEK_END)
    with zipfile.ZipFile(stream, "a") as archive:
        for file_name, data in files.items():
            archive.writestr(zipfile.ZipInfo(file_name), data)
    return stream.getvalue()


def model_metadata(
    name: str,
    description: str,
    version: str,
    spec: InputSpec,
    input_dtype: str,
    output_dtype: str,
    author: str,
    license_text: str,
    feature_map_output: bool = False,
) -> bytes:
    """The ModelMetadata flatbuffer of an image classifier: one subgraph, one input, one output."""
    builder = flatbuffers.Builder(1024)
    inputs = _vector(builder, [_input_tensor(builder, spec, input_dtype)])
    output = _feature_map_tensor(builder) if feature_map_output else _output_tensor(builder, output_dtype)
    outputs = _vector(builder, [output])
    subgraph = _table(builder, {2: inputs, 3: outputs}, slots=10)
    fields = {
        0: builder.CreateString(name),
        1: builder.CreateString(description),
        2: builder.CreateString(version),
        3: _vector(builder, [subgraph]),
        4: builder.CreateString(author),
        5: builder.CreateString(license_text),
        7: builder.CreateString(MIN_PARSER_VERSION),
    }
    builder.Finish(_table(builder, fields, slots=8), file_identifier=METADATA_IDENTIFIER)
    return bytes(builder.Output())


def _input_tensor(builder: flatbuffers.Builder, spec: InputSpec, dtype: str) -> int:
    image = _table(builder, {}, slots=2, bytes_={0: _RGB})
    content = _table(builder, {1: image}, slots=3, bytes_={0: _IMAGE_PROPERTIES})
    options = _table(builder, {0: _floats(builder, spec.mean), 1: _floats(builder, spec.std)}, slots=2)
    normalization = _table(builder, {1: options}, slots=2, bytes_={0: _NORMALIZATION_OPTIONS})
    fields = {
        0: builder.CreateString("image"),
        1: builder.CreateString("Input image to be classified."),
        3: content,
        4: _vector(builder, [normalization]),
    }
    stats = _input_range(spec, dtype)
    if stats:
        fields[5] = _stats(builder, *stats)
    return _table(builder, fields, slots=7)


def _input_range(spec: InputSpec, dtype: str) -> tuple[list[float], list[float]] | None:
    """What tflite-support records: pixel range for uint8, normalized range for float, none for int8."""
    if dtype == "uint8":
        return [255.0], [0.0]
    if dtype == "float32":
        return (
            [(255.0 - m) / s for m, s in zip(spec.mean, spec.std)],
            [(0.0 - m) / s for m, s in zip(spec.mean, spec.std)],
        )
    return None


def _output_tensor(builder: flatbuffers.Builder, dtype: str) -> int:
    labels = _table(
        builder,
        {
            0: builder.CreateString(LABELS_FILE),
            1: builder.CreateString("Labels for categories that the model can recognize."),
        },
        slots=5,
        bytes_={2: _TENSOR_AXIS_LABELS},
    )
    features = _table(builder, {}, slots=0)
    content = _table(builder, {1: features}, slots=3, bytes_={0: _FEATURE_PROPERTIES})
    fields = {
        0: builder.CreateString("probability"),
        1: builder.CreateString("Probabilities of the labels respectively."),
        3: content,
        6: _vector(builder, [labels]),
    }
    if dtype in ("uint8", "float32"):
        fields[5] = _stats(builder, [255.0 if dtype == "uint8" else 1.0], [0.0])
    return _table(builder, fields, slots=7)


def _feature_map_tensor(builder: flatbuffers.Builder) -> int:
    features = _table(builder, {}, slots=0)
    content = _table(builder, {1: features}, slots=3, bytes_={0: _FEATURE_PROPERTIES})
    fields = {
        0: builder.CreateString("feature_map"),
        1: builder.CreateString(
            "Last feature map of the network. The bundle's head file turns it into class probabilities "
            "(see the bundle's metadata.json)."
        ),
        3: content,
    }
    return _table(builder, fields, slots=7)


def _stats(builder: flatbuffers.Builder, maximum: list[float], minimum: list[float]) -> int:
    return _table(builder, {0: _floats(builder, maximum), 1: _floats(builder, minimum)}, slots=2)


def _table(
    builder: flatbuffers.Builder, offsets: dict[int, int], slots: int, bytes_: dict[int, int] | None = None
) -> int:
    """One flatbuffer table: offset fields (strings, tables, vectors) and one-byte enum fields."""
    builder.StartObject(slots)
    for slot, offset in offsets.items():
        builder.PrependUOffsetTRelativeSlot(slot, offset, 0)
    for slot, value in (bytes_ or {}).items():
        builder.PrependUint8Slot(slot, value, 0)
    return builder.EndObject()


def _vector(builder: flatbuffers.Builder, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def _floats(builder: flatbuffers.Builder, values: Sequence[float]) -> int:
    builder.StartVector(4, len(values), 4)
    for value in reversed(values):
        builder.PrependFloat32(float(value))
    return builder.EndVector()
