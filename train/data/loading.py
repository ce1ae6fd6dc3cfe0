"""Find the images of a class-per-folder dataset, in either of the layouts users have.

- ``ROOT/<class>/**/*.{jpg,jpeg,png,bmp,tif,tiff}``: one pool of images;
- the Kaggle layout, ``ROOT/Training/<class>/...`` next to ``ROOT/Testing/<class>/...``:
  two parts, and the ``Testing`` part can be kept as the test split.

Several roots can be loaded together (``brainedge-data audit Training Testing``); row paths
are then relative to their common parent, so a file keeps one name everywhere.

Folders are walked by ``edge_runtime.files.walk_files``: links followed, each folder once,
hidden names left out, FIFOs, devices, broken links and names a manifest cannot store (not
UTF-8, a carriage return) listed as skipped. Row paths are the names as walked (links not
resolved), so a linked ``Training/`` or class folder keeps its name. A class name a bundle
could not carry (leading or trailing whitespace, a line break, bytes that are not UTF-8) is
refused with the folder named.

A class mapping renames classes: ``{"glioma": "tumor", ...}``; the key ``"*"`` stands for
every class not named, so ``--binary notumor`` is ``{"notumor": "notumor", "*": "tumor"}``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import IMAGE_SUFFIXES, is_utf8_name, scan_folder, shown, walk_files
from brainedge.edge_runtime.metadata import class_name_problem

TEST_PART_NAMES = ("testing", "test")
TRAIN_PART_NAMES = ("training", "train")
OTHER_CLASSES = "*"
MIN_IMAGES_PER_CLASS = 3
"""One image each for train, val and test."""


@dataclass(frozen=True)
class ImageFile:
    path: Path
    """Where the file is."""
    rel: str
    """POSIX path relative to the dataset root: the name used in reports and manifests."""
    label: str
    """Class after mapping."""
    folder_class: str
    """Class folder the file is in, before mapping."""
    part: str
    """Which part of the dataset it came from, e.g. "Training" or "Testing"."""


@dataclass(frozen=True)
class Dataset:
    root: Path
    parts: tuple[str, ...]
    images: tuple[ImageFile, ...]
    skipped: tuple[tuple[str, str], ...]
    """(path, reason) for files left out: not an image extension, not a regular file, a name that is not UTF-8."""
    part_labels: Mapping[str, tuple[str, ...]]
    """Each part's classes (after mapping), from its class folders, even empty ones."""
    test_part: str | None = None
    """The part that is an existing held-out test set (Kaggle ``Testing/``), if any."""

    def class_counts(self, part: str | None = None) -> Counter[str]:
        """Images per class, zero for an empty class folder."""
        parts = self.parts if part is None else (part,)
        counts = Counter({label: 0 for p in parts for label in self.part_labels[p]})
        counts.update(image.label for image in self.images if image.part in parts)
        return counts


def binary_mapping(negative: str, positive: str = "tumor") -> dict[str, str]:
    """``negative`` against everything else: the Br35H-style tumour / no-tumour task."""
    if negative == positive:
        raise BrainEdgeError(f"--binary: the negative class and the positive name are both {negative!r}")
    return {negative: negative, OTHER_CLASSES: positive}


def read_mapping(path: Path) -> dict[str, str]:
    """A mapping file: a JSON object, or lines ``source,target`` (``#`` starts a comment)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BrainEdgeError(f"{path}: cannot read mapping file ({error})") from None
    if Path(path).suffix.lower() == ".json":
        return _mapping_from_json(path, text)
    mapping: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 2 or not all(fields):
            raise BrainEdgeError(f"{path}:{number}: expected 'source,target', got {line!r}")
        mapping[fields[0]] = fields[1]
    if not mapping:
        raise BrainEdgeError(f"{path}: mapping file is empty")
    return mapping


def _mapping_from_json(path: Path, text: str) -> dict[str, str]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise BrainEdgeError(f"{path}: invalid JSON ({error})") from None
    if (
        not isinstance(raw, dict)
        or not raw
        or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in raw.items())
    ):
        raise BrainEdgeError(f"{path}: expected a non-empty JSON object of class name -> class name")
    return raw


def load_dataset(root: Path, mapping: Mapping[str, str] | None = None) -> Dataset:
    """One dataset root, plain class-per-folder or the Kaggle Training/Testing layout."""
    root = _existing_dir(root)
    parts = _kaggle_parts(root)
    if parts:
        _check_nothing_beside_the_parts(root, parts)
        return _load_parts(root, {name: (folder, name) for name, folder in parts.items()}, mapping)
    _check_not_half_a_kaggle_layout(root)
    return _load_parts(root, {root.name or str(root): (root, "")}, mapping)


def _check_not_half_a_kaggle_layout(root: Path) -> None:
    """A root holding Training/ without Testing/ (or the reverse) would be read as one class per part."""
    half = [d for d in scan_folder(root).folders if d.name.lower() in TRAIN_PART_NAMES + TEST_PART_NAMES]
    if half:
        raise BrainEdgeError(
            f"{shown(root)}: has {shown(half[0].name)}/ but not both Training/ and Testing/, so its class folders "
            f"would be read as classes named after it: give {shown(half[0])} itself (a folder of class folders), "
            "or put both parts in the root"
        )


def load_roots(roots: Sequence[Path], mapping: Mapping[str, str] | None = None) -> Dataset:
    """Several roots as parts of one dataset (e.g. ``Training`` and ``Testing`` given separately)."""
    if len(roots) == 1:
        return load_dataset(roots[0], mapping)
    dirs = [_existing_dir(root) for root in roots]
    if any(_kaggle_parts(d) for d in dirs):
        raise BrainEdgeError(
            "give either one Kaggle-style root (with Training/ and Testing/) "
            "or several class-per-folder roots, not both"
        )
    if len({_folder_key(d) for d in dirs}) != len(dirs):
        raise BrainEdgeError(f"the same folder is given twice: {', '.join(map(shown, roots))}")
    absolute = [Path(os.path.abspath(d)) for d in dirs]  # lexical, so a linked root keeps its name
    common = Path(os.path.commonpath(absolute))
    prefixes = ["" if d == common else d.relative_to(common).as_posix() for d in absolute]
    names = [prefix or d.name for prefix, d in zip(prefixes, dirs)]
    if len(set(names)) != len(names):
        raise BrainEdgeError(f"two roots would have the same part name: {', '.join(map(shown, roots))}")
    return _load_parts(common, {name: (d, prefix) for name, d, prefix in zip(names, dirs, prefixes)}, mapping)


def _folder_key(folder: Path) -> tuple[int, int]:
    status = folder.stat()
    return status.st_dev, status.st_ino


def _existing_dir(root: Path) -> Path:
    root = Path(root)
    if not root.exists():
        raise BrainEdgeError(f"{shown(root)}: no such directory")
    if not root.is_dir():
        raise BrainEdgeError(f"{shown(root)}: not a directory (expected a folder of class folders)")
    return root


def _kaggle_parts(root: Path) -> dict[str, Path]:
    """{"Training": dir, "Testing": dir} when ``root`` has both, else {}."""
    folders = scan_folder(root).folders
    train = [d for d in folders if d.name.lower() in TRAIN_PART_NAMES]
    test = [d for d in folders if d.name.lower() in TEST_PART_NAMES]
    if len(train) == 1 and len(test) == 1:
        return {train[0].name: train[0], test[0].name: test[0]}
    return {}


def _check_nothing_beside_the_parts(root: Path, parts: dict[str, Path]) -> None:
    """Only Training/ and Testing/ are read: a class folder or images beside them would be left out
    of every split without a word."""
    entries = scan_folder(root)
    beside = [d for d in entries.folders if d not in parts.values()]
    beside += [f for f in entries.files if f.suffix.lower() in IMAGE_SUFFIXES]
    if beside:
        names = ", ".join(shown(path.name) + ("/" if path.is_dir() else "") for path in beside[:5])
        more = f" and {len(beside) - 5} more" if len(beside) > 5 else ""
        raise BrainEdgeError(
            f"{shown(root)}: has {' and '.join(f'{name}/' for name in parts)}, which are read, and also {names}{more} "
            "beside them, which would be left out: move them into a part, or give class-per-folder roots instead"
        )


def _load_parts(root: Path, parts: dict[str, tuple[Path, str]], mapping: Mapping[str, str] | None) -> Dataset:
    """``parts``: part name -> (folder, prefix of its row paths)."""
    images: list[ImageFile] = []
    skipped: list[tuple[str, str]] = []
    folder_classes: dict[str, list[str]] = {}
    dataset_folders = [root, *(folder for folder, _ in parts.values())]
    dataset_folders += [d for folder, _ in parts.values() for d in scan_folder(folder).folders]
    for part, (folder, prefix) in parts.items():
        folder_classes[part], part_images, part_skipped = _load_part(folder, part, prefix, dataset_folders)
        images += part_images
        skipped += part_skipped
    rename = _mapper(mapping, {name for names in folder_classes.values() for name in names}, root)
    for part, (folder, _) in parts.items():
        for name in folder_classes[part]:
            _check_class_name(folder / name, rename(name))
    images = [dataclasses.replace(image, label=rename(image.folder_class)) for image in images]
    part_labels = {part: tuple(sorted({rename(name) for name in names})) for part, names in folder_classes.items()}
    test_parts = [p for p in parts if p.lower() in TEST_PART_NAMES] if len(parts) > 1 else []
    return Dataset(
        root=root,
        parts=tuple(parts),
        images=tuple(sorted(images, key=lambda i: i.rel)),
        skipped=tuple(sorted(skipped)),
        part_labels=part_labels,
        test_part=test_parts[0] if len(test_parts) == 1 else None,
    )


def _load_part(
    folder: Path, part: str, prefix: str, dataset_folders: list[Path]
) -> tuple[list[str], list[ImageFile], list[tuple[str, str]]]:
    def rel(path: Path) -> str:
        return (Path(prefix) / path.relative_to(folder)).as_posix()

    entries = scan_folder(folder)
    classes, loose = entries.folders, entries.files
    if not classes:
        if any(p.suffix.lower() in IMAGE_SUFFIXES for p in loose):
            raise BrainEdgeError(
                f"{shown(folder)}: has images but no class folders; "
                "expected <root>/<class>/<image> (one folder per class)"
            )
        raise BrainEdgeError(f"{shown(folder)}: empty folder; expected <root>/<class>/<image> (one folder per class)")
    skipped = [(shown(rel(p)), "not in a class folder") for p in loose]
    skipped += [(shown(rel(p)), reason) for p, reason in entries.problems]
    images = []
    for class_dir in classes:
        if not is_utf8_name(class_dir.name):
            raise BrainEdgeError(
                f"{shown(class_dir)}: class folder name is not valid UTF-8; rename it "
                "(manifests and bundles store class names as UTF-8 text)"
            )
        # A link from one class folder back to the dataset, or into another class, is skipped, not relabelled.
        walk = walk_files(class_dir, text_names=True, walked_elsewhere=[d for d in dataset_folders if d != class_dir])
        skipped += [(shown(rel(p)), reason) for p, reason in walk.problems]
        for path in walk.files:
            if path.suffix.lower() in IMAGE_SUFFIXES:
                images.append(
                    ImageFile(path=path, rel=rel(path), label=class_dir.name, folder_class=class_dir.name, part=part)
                )
            else:
                skipped.append((rel(path), f"not an image extension ({', '.join(sorted(IMAGE_SUFFIXES))})"))
    if not images:
        raise BrainEdgeError(
            f"{shown(folder)}: no images in its class folders "
            f"({', '.join(shown(d.name) for d in classes)}); expected {', '.join(sorted(IMAGE_SUFFIXES))}"
        )
    return [d.name for d in classes], images, skipped


def _check_class_name(class_dir: Path, label: str) -> None:
    problem = class_name_problem(label)
    if problem:
        raise BrainEdgeError(
            f"{shown(class_dir)}: class name '{shown(label)}' {problem}, which a model bundle's class names "
            "cannot be; rename the folder (or map it with --mapping)"
        )


def _mapper(mapping: Mapping[str, str] | None, present: set[str], root: Path) -> Callable[[str], str]:
    """Class folder name -> label; a mapping that names a missing class is a typo, so an error."""
    mapping = dict(mapping or {})
    unknown = sorted(set(mapping) - present - {OTHER_CLASSES})
    if unknown:
        raise BrainEdgeError(
            f"class mapping names {', '.join(map(repr, unknown))}, not a class folder of "
            f"{root} (classes: {', '.join(sorted(present))})"
        )
    return lambda name: mapping.get(name, mapping.get(OTHER_CLASSES, name))


def class_problems(counts: Mapping[str, int], where: str) -> list[str]:
    """Why these class counts cannot be split into train/val/test (empty when they can)."""
    problems = []
    if len(counts) < 2:
        names = ", ".join(counts) or "none"
        problems.append(f"{where}: only one class ({names}); a classifier needs at least two class folders")
    for name, count in sorted(counts.items()):
        if count < MIN_IMAGES_PER_CLASS:
            problems.append(
                f"{where}: class {name!r} has {count} readable image(s); "
                f"need at least {MIN_IMAGES_PER_CLASS} (one each for train, val and test)"
            )
    return problems
