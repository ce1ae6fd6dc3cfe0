"""Write model bundles: model file + labels.txt + metadata.json, all or nothing.

A bundle is built and verified in a hidden staging directory next to its destination and
only then renamed into place, so an interrupted or failed export never leaves a
half-written bundle where a device or a benchmark would pick it up.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import Any

from edge_runtime.backends import load_backend
from edge_runtime.classifier import sha256_of
from edge_runtime.metadata import (
    LABELS_FILE,
    METADATA_FILE,
    BundleMetadata,
    InputSpec,
    OutputSpec,
    write_labels,
)


def staging_dir(out_dir: Path) -> Path:
    """An empty temporary sibling of ``out_dir``: a bundle is built there and moved in when done."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    staging.chmod(0o755)  # mkdtemp's 0700 would make the finished bundle private
    return staging


def write_bundle(staging: Path, model_bytes: bytes, suffix: str, variant: str, class_names: list[str],
                 float_spec: InputSpec, provenance: dict[str, Any]) -> BundleMetadata:
    """Write model file, labels.txt and metadata.json into a staging directory.

    Input/output dtypes and quantization are read back from the written model itself, so the
    metadata cannot disagree with the file it describes.
    """
    model_file = f"model{suffix}"
    (staging / model_file).write_bytes(model_bytes)
    write_labels(staging / LABELS_FILE, class_names)
    metadata = _describe(staging / model_file, variant, class_names, float_spec, provenance)
    (staging / METADATA_FILE).write_text(metadata.to_json())
    return metadata


def _describe(model_path: Path, variant: str, class_names: list[str], float_spec: InputSpec,
              provenance: dict[str, Any]) -> BundleMetadata:
    backend = load_backend(model_path)
    input_spec = InputSpec(height=float_spec.height, width=float_spec.width, dtype=backend.input.dtype,
                           quantization=backend.input.quantization, mean=float_spec.mean,
                           std=float_spec.std)
    output_spec = OutputSpec(num_classes=len(class_names), dtype=backend.output.dtype,
                             quantization=backend.output.quantization, activation="softmax")
    return BundleMetadata(
        model_file=model_path.name, model_format=model_path.suffix.lstrip("."), variant=variant,
        model_sha256=sha256_of(model_path), class_names=list(class_names), input=input_spec,
        output=output_spec,
        provenance={**provenance, "export_method": variant,
                    "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")},
    )


def replace_dir(staging: Path, target: Path) -> None:
    """Swap a finished directory into place, removing any older bundle of the same name."""
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)


def update_metadata(bundle_dir: Path, **changes: Any) -> BundleMetadata:
    """Rewrite metadata.json with some fields changed (e.g. verification results)."""
    metadata = BundleMetadata.read(bundle_dir / METADATA_FILE)
    for name, value in changes.items():
        setattr(metadata, name, value)
    temporary = bundle_dir / f".{METADATA_FILE}.tmp"
    temporary.write_text(metadata.to_json())
    temporary.replace(bundle_dir / METADATA_FILE)
    return metadata
