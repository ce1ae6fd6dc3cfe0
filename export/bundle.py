"""Describe an exported model as a bundle: the metadata read back from the model file itself.

A bundle is built and verified in a hidden staging directory next to its destination and
only then renamed into place (``Bundle``'s ``staging_dir`` and ``publish``), so an
interrupted or failed export never leaves a half-written bundle where a device or a
benchmark would pick it up.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from brainedge.edge_runtime.backends import load_backend
from brainedge.edge_runtime.bundle import Bundle
from brainedge.edge_runtime.metadata import BundleMetadata, InputSpec, OutputSpec
from brainedge.edge_runtime.variants import variant_named


def write_bundle(
    staging: Path,
    model_bytes: bytes,
    variant: str,
    class_names: list[str],
    float_spec: InputSpec,
    provenance: dict[str, Any],
    model_format: str | None = None,
    verification: dict[str, Any] | None = None,
) -> Bundle:
    """Write model file, labels.txt and metadata.json into a staging directory.

    Input/output dtypes and quantization are read back from the model itself, so the metadata
    cannot disagree with the file it describes. ``variant`` is a row of the variant table;
    a model made elsewhere (a third-party reference) names its ``model_format`` instead.
    """
    if model_format is None:
        model_format = variant_named(variant).model_format
    suffix = f".{model_format}"
    input_spec, output_spec = _tensor_specs(model_bytes, suffix, len(class_names), float_spec)
    metadata = BundleMetadata(
        model_file=f"model{suffix}",
        model_format=model_format,
        variant=variant,
        model_sha256="",
        class_names=list(class_names),
        input=input_spec,
        output=output_spec,
        verification=dict(verification or {}),
        provenance={
            **provenance,
            "export_method": variant,
            "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        },
    )
    return Bundle.write(staging, model_bytes, metadata)


def _tensor_specs(
    model_bytes: bytes, suffix: str, num_classes: int, float_spec: InputSpec
) -> tuple[InputSpec, OutputSpec]:
    with tempfile.TemporaryDirectory(prefix="brainedge-describe-") as scratch:
        path = Path(scratch, f"model{suffix}")
        path.write_bytes(model_bytes)
        backend = load_backend(path)
        model_input, model_output = backend.input, backend.output
    input_spec = InputSpec(
        height=float_spec.height,
        width=float_spec.width,
        dtype=model_input.dtype,
        quantization=model_input.quantization,
        mean=float_spec.mean,
        std=float_spec.std,
    )
    output_spec = OutputSpec(
        num_classes=num_classes, dtype=model_output.dtype, quantization=model_output.quantization, activation="softmax"
    )
    return input_spec, output_spec
