"""Copy a model bundle (and optionally labelled sample images) into the Android app's assets.

    python android_demo/tools/bundle_into_app.py runs/mri/export/tflite_int8_ptq
    python android_demo/tools/bundle_into_app.py runs/mri/export/tflite_int8_ptq --samples data/test --per-class 10

The bundle is validated with the edge runtime first (metadata schema, model and head SHA-256,
labels, model tensors against metadata), so the app never ships one the runtime refuses.
Every file of the bundle (``Bundle.files``: model, labels, metadata and, for schema 2, the head
file) is copied. The app reads everything else (input size, normalization, resize, quantization,
head, temperature, out-of-distribution threshold) from the copied metadata.json.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from brainedge.edge_runtime.bundle import Bundle
from brainedge.edge_runtime.classifier import Classifier
from brainedge.edge_runtime.errors import EXIT_USER_ERROR, BrainEdgeError, OneLineParser
from brainedge.edge_runtime.files import check_output_folder, write_text_atomically
from brainedge.edge_runtime.preprocess import decode_pixels

ROOT = Path(__file__).resolve().parents[2]

APP_ASSETS = ROOT / "android_demo/app/src/main/assets"
BUNDLE_ASSETS = "bundle"
SAMPLE_ASSETS = "samples"
INFO_FILE = "bundle_info.json"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
"""What Android's BitmapFactory decodes (no TIFF, no 16-bit guarantees: prefer 8-bit PNG)."""


def validate(directory: Path) -> Bundle:
    """The bundle as the runtime would load it; refuses formats the app cannot run."""
    bundle = Bundle.open(directory)
    if bundle.metadata.model_format != "tflite":
        raise BrainEdgeError(
            f"{directory}: a {bundle.metadata.model_format} bundle cannot run in the Android app "
            "(choose a TFLite bundle)"
        )
    Classifier.from_bundle(bundle)  # model tensors checked against the metadata
    return bundle


def aapt_ignores(name: str) -> str | None:
    """Why AAPT2 would silently leave this asset name out of the APK, or None if it keeps it.

    AAPT2's default ignore pattern drops names starting with "." or "_" (the latter for folders;
    refused for files too, to be safe), editor backups ending in "~", and a few tool files."""
    if name.startswith("."):
        return "AAPT2 leaves names starting with '.' out of the APK"
    if name.startswith("_"):
        return "AAPT2 leaves names starting with '_' out of the APK"
    if name.endswith("~"):
        return "AAPT2 leaves names ending in '~' out of the APK"
    if name.lower() in {"cvs", "thumbs.db", "picasa.ini", ".ds_store"} or name.lower().endswith(".scc"):
        return "AAPT2 leaves this tool file out of the APK"
    return None


def _refuse_ignored(path: Path, name: str) -> None:
    reason = aapt_ignores(name)
    if reason:
        raise BrainEdgeError(f"{path}: {reason}; rename it")


def _replace_dir(staged: Path, target: Path) -> None:
    """Put staged in target's place: the old folder is renamed away first, so a failure leaves either one."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staged.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def copy_bundle(bundle: Bundle, assets: Path) -> list[Path]:
    """Replace assets/bundle with every file of the bundle (staged, then swapped in): model, labels,
    metadata and the head file of a schema 2 bundle, whose model cannot answer without it."""
    names = tuple(path.name for path in bundle.files)
    for name in names:
        _refuse_ignored(bundle.directory / name, name)
    assets.mkdir(parents=True, exist_ok=True)
    staged = assets / f".{BUNDLE_ASSETS}.new"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir()
    try:
        for name in names:
            shutil.copy2(bundle.directory / name, staged / name)
        _replace_dir(staged, assets / BUNDLE_ASSETS)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    write_text_atomically(assets / INFO_FILE, json.dumps({"name": bundle.directory.resolve().name}) + "\n")
    return [assets / BUNDLE_ASSETS / name for name in names]


def remove_samples(assets: Path) -> bool:
    """Drop samples left by a previous bundle (their classes may not be this model's); True if there were some."""
    target = assets / SAMPLE_ASSETS
    if not target.exists():
        return False
    shutil.rmtree(target)
    return True


def _readable(folder: Path, candidates: list[Path], wanted: int, notes: list[str]) -> list[Path]:
    """The first ``wanted`` images that decode; the phone's benchmark would only trip over the others."""
    readable, unreadable = [], []
    for image in candidates:
        if len(readable) == wanted:
            break
        try:
            decode_pixels(image)
        except BrainEdgeError:
            unreadable.append(image.name)
            continue
        readable.append(image)
    if unreadable:
        notes.append(f"skipped {len(unreadable)} unreadable image(s) in {folder.name}/: {', '.join(unreadable[:5])}")
    return readable


def copy_samples(samples: Path, class_names: list[str], per_class: int, assets: Path, notes: list[str]) -> int:
    """Up to per_class images from each samples/<class name>/ folder, first by name, for the benchmark.

    Nothing is skipped silently: folders that are not class names and files that are not images are
    listed in notes; a name AAPT2 would drop from the APK is refused."""
    if not samples.is_dir():
        raise BrainEdgeError(f"{samples}: samples directory not found")
    folders = [samples / name for name in class_names if (samples / name).is_dir()]
    if not folders:
        raise BrainEdgeError(f"{samples}: no sub-folder named after a class ({', '.join(class_names)})")
    others = sorted(p.name for p in samples.iterdir() if p.is_dir() and p.name not in class_names)
    if others:
        notes.append(f"skipped folders that are not class names: {', '.join(others)}")
    plan: list[tuple[Path, str]] = []
    for folder in folders:
        _refuse_ignored(folder, folder.name)
        files = sorted(p for p in folder.iterdir() if p.is_file())
        not_images = [p.name for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
        if not_images:
            notes.append(
                f"skipped {len(not_images)} file(s) in {folder.name}/ that are not "
                f"{'/'.join(sorted(IMAGE_SUFFIXES))} images: {', '.join(not_images[:5])}"
                + (" …" if len(not_images) > 5 else "")
            )
        images = _readable(folder, [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES], per_class, notes)
        for image in images:
            _refuse_ignored(image, image.name)
        plan += [(image, folder.name) for image in images]
    staged = assets / f".{SAMPLE_ASSETS}.new"
    shutil.rmtree(staged, ignore_errors=True)
    try:
        for image, label in plan:
            (staged / label).mkdir(parents=True, exist_ok=True)
            shutil.copy2(image, staged / label / image.name)
        staged.mkdir(parents=True, exist_ok=True)
        _replace_dir(staged, assets / SAMPLE_ASSETS)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return len(plan)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python android_demo/tools/bundle_into_app.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path, help="bundle directory (model + labels.txt + metadata.json [+ head file])")
    parser.add_argument("--samples", type=Path, help="class-per-folder images to bundle for the benchmark screen")
    parser.add_argument("--per-class", type=int, default=10, help="sample images per class (default 10)")
    parser.add_argument("--assets", type=Path, default=APP_ASSETS, help="the app's assets folder")
    args = parser.parse_args(argv)
    try:
        if args.per_class < 1:
            raise BrainEdgeError(f"--per-class must be at least 1, got {args.per_class}")
        check_output_folder(args.assets)
        bundle = validate(args.bundle)
        metadata = bundle.metadata
        for path in bundle.files:  # refused before anything in the app changes
            _refuse_ignored(path, path.name)
        notes: list[str] = []
        samples = None
        if args.samples:  # every sample name is checked before any is copied
            samples = copy_samples(args.samples, metadata.class_names, args.per_class, args.assets, notes)
        elif remove_samples(args.assets):
            notes.append(f"removed the previous bundle's sample images from {args.assets / SAMPLE_ASSETS}")
        copied = copy_bundle(bundle, args.assets)
    except BrainEdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    print(
        f"bundled {metadata.variant} ({metadata.input.height}x{metadata.input.width} {metadata.input.dtype}, "
        f"{len(metadata.class_names)} classes) into {args.assets / BUNDLE_ASSETS}:"
    )
    for path in copied:
        print(f"  {path.name} ({path.stat().st_size:,} bytes)")
    if samples is not None:
        print(f"  {samples} sample images under {args.assets / SAMPLE_ASSETS}")
    for note in notes:
        print(f"  note: {note}")
    print("next: cd android_demo && ./gradlew :app:installRelease")
    return 0


if __name__ == "__main__":
    sys.exit(main())
