"""Copy a model bundle (and optionally labelled sample images) into the Android app's assets.

    python android_demo/tools/bundle_into_app.py runs/export/int8_ptq
    python android_demo/tools/bundle_into_app.py runs/export/int8_ptq --samples data/test --per-class 10

The bundle is validated with the edge runtime first (metadata schema, model SHA-256,
labels, model tensors against metadata), so the app never ships one the runtime refuses.
The app reads everything else (input size, normalization, resize, quantization) from the
copied metadata.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from brainedge.edge_runtime.classifier import Classifier
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.metadata import METADATA_FILE, BundleMetadata

ROOT = Path(__file__).resolve().parents[2]

APP_ASSETS = ROOT / "android_demo/app/src/main/assets"
BUNDLE_ASSETS = "bundle"
SAMPLE_ASSETS = "samples"
INFO_FILE = "bundle_info.json"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
"""What Android's BitmapFactory decodes (no TIFF, no 16-bit guarantees: prefer 8-bit PNG)."""


def validate(bundle: Path) -> BundleMetadata:
    """The bundle as the runtime would load it; refuses formats the app cannot run."""
    metadata = BundleMetadata.read(bundle / METADATA_FILE)
    if metadata.model_format != "tflite":
        raise BrainEdgeError(f"{bundle}: a {metadata.model_format} bundle cannot run in the Android app "
                             "(choose a TFLite bundle)")
    Classifier.from_bundle(bundle)  # hash, labels and model tensors checked against the metadata
    return metadata


def copy_bundle(bundle: Path, metadata: BundleMetadata, assets: Path) -> list[Path]:
    """Replace assets/bundle with the bundle's model, labels and metadata."""
    target = assets / BUNDLE_ASSETS
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    copied = [shutil.copy2(bundle / name, target / name)
              for name in (metadata.model_file, metadata.labels_file, METADATA_FILE)]
    (assets / INFO_FILE).write_text(json.dumps({"name": bundle.resolve().name}) + "\n")
    return [Path(path) for path in copied]


def copy_samples(samples: Path, class_names: list[str], per_class: int, assets: Path) -> int:
    """Up to per_class images from each samples/<class name>/ folder, first by name, for the benchmark."""
    if not samples.is_dir():
        raise BrainEdgeError(f"{samples}: samples directory not found")
    folders = [samples / name for name in class_names if (samples / name).is_dir()]
    if not folders:
        raise BrainEdgeError(f"{samples}: no sub-folder named after a class ({', '.join(class_names)})")
    target = assets / SAMPLE_ASSETS
    shutil.rmtree(target, ignore_errors=True)
    count = 0
    for folder in folders:
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:per_class]
        (target / folder.name).mkdir(parents=True, exist_ok=True)
        for image in images:
            shutil.copy2(image, target / folder.name / image.name)
        count += len(images)
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path, help="bundle directory (model + labels.txt + metadata.json)")
    parser.add_argument("--samples", type=Path,
                        help="class-per-folder images to bundle for the benchmark screen")
    parser.add_argument("--per-class", type=int, default=10, help="sample images per class (default 10)")
    parser.add_argument("--assets", type=Path, default=APP_ASSETS, help="the app's assets folder")
    args = parser.parse_args(argv)
    try:
        metadata = validate(args.bundle)
        copied = copy_bundle(args.bundle, metadata, args.assets)
        samples = (copy_samples(args.samples, metadata.class_names, args.per_class, args.assets)
                   if args.samples else None)
    except BrainEdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"bundled {metadata.variant} ({metadata.input.height}x{metadata.input.width} {metadata.input.dtype}, "
          f"{len(metadata.class_names)} classes) into {args.assets / BUNDLE_ASSETS}:")
    for path in copied:
        print(f"  {path.name} ({path.stat().st_size:,} bytes)")
    if samples is not None:
        print(f"  {samples} sample images under {args.assets / SAMPLE_ASSETS}")
    print("next: cd android_demo && ./gradlew :app:installRelease")
    return 0


if __name__ == "__main__":
    sys.exit(main())
