"""The split manifest: which image is in train, val or test, so every stage holds out the same ones.

``brainedge-data split`` writes it; training, export (representative data) and the
benchmarks read it. Pure standard library, so the runtime and the benchmarks can read a
manifest without the training stack.

File format (UTF-8 CSV, ``\\n`` line endings)::

    # root: ../data/brain-tumor-mri
    path,label,split,group,sha256,width,height,leaked
    Training/glioma/Tr-gl_0000.jpg,glioma,train,3f9c0a1b2c3d4e5f,3f9c...,224,224,false

- The first line names the dataset root: a POSIX path relative to the manifest file's
  directory (or absolute when no relative path exists, e.g. another drive). Reading
  therefore works from any working directory, and a dataset moved together with its
  manifest still resolves. Both ends are taken with symbolic links resolved, so a manifest
  written through a linked folder resolves the same whichever way it is later reached.
- Lines starting with ``#`` between it and the header are comments and are ignored.
- ``path`` is POSIX and relative to the root; with a Kaggle ``Training/`` + ``Testing/``
  layout the root is their common parent.
- ``group`` is the near-duplicate group id; images that are (near-)duplicates share it.
- ``leaked`` is ``true`` for a test image with an exact or near duplicate in train or val
  (only possible when an existing ``Testing/`` folder was kept as the test split).
- Rows are sorted by path, so identical input gives a byte-identical file.
- The file is written atomically (temporary file beside it, then renamed): a kill or a full
  disk leaves the previous manifest intact. Names that are not valid UTF-8 or hold a carriage
  return are refused (``files.text_name_problem``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import is_utf8_name, shown, text_name_problem, write_output

COLUMNS = ("path", "label", "split", "group", "sha256", "width", "height", "leaked")
SPLITS = ("train", "val", "test")
ROOT_PREFIX = "# root: "


@dataclass(frozen=True)
class ManifestRow:
    path: str
    """POSIX path relative to the manifest's dataset root."""
    label: str
    """Class name after any mapping (e.g. ``--binary``)."""
    split: str
    """"train", "val" or "test"."""
    group: str
    """Duplicate-group id: near-duplicates share it, a singleton has its own."""
    sha256: str
    """Content hash of the file bytes."""
    width: int
    height: int
    leaked: bool
    """A test image with an exact or near duplicate in train/val (kept-Testing case)."""


@dataclass(frozen=True)
class Manifest:
    root: Path
    """Dataset root the row paths are relative to."""
    rows: list[ManifestRow]

    def class_names(self) -> list[str]:
        """Sorted unique labels: class index i is the i-th name (Keras' alphabetical convention)."""
        return sorted({row.label for row in self.rows})

    def split(self, name: str) -> list[ManifestRow]:
        """The rows of one split, in manifest order."""
        _check_split_name(name)
        return [row for row in self.rows if row.split == name]

    def split_fingerprint(self) -> str:
        """One hash of which image (by content) is in which split with which label: the same for a
        dataset that moved, different for another split or other images."""
        lines = sorted(f"{row.split} {row.label} {row.sha256} {row.leaked}" for row in self.rows)
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()

    def files(self, name: str, include_leaked: bool = False) -> list[tuple[Path, int]]:
        """(absolute path, class index) for each image of a split, as the training pipeline wants.

        Test images flagged ``leaked`` are left out unless asked for: scored on them, a model is partly
        graded on its training images (``scoring.labelled_split`` counts what it leaves out)."""
        index = {label: i for i, label in enumerate(self.class_names())}
        return [
            (self.root / row.path, index[row.label]) for row in self.split(name) if include_leaked or not row.leaked
        ]


def check_images_present(manifest: Manifest, path: Path) -> None:
    """Refuse a manifest whose images are not where it says: a moved or renamed dataset would otherwise
    be audited as empty, or stop training at its first batch."""
    missing = [row.path for row in manifest.rows if not (manifest.root / row.path).is_file()]
    if missing:
        raise BrainEdgeError(
            f"{path}: {len(missing)} of its {len(manifest.rows)} images are not under {manifest.root} "
            f"(e.g. {missing[0]}); was the dataset moved? Its first line names the dataset folder"
        )


def _check_split_name(name: str) -> None:
    if name not in SPLITS:
        raise BrainEdgeError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")


def class_weights(manifest: Manifest, *splits: str) -> dict[int, float]:
    """Balanced class weights w_c = N / (C * n_c) over the training split (or the ones named),
    keyed by class index."""
    names = manifest.class_names()
    splits = splits or ("train",)
    rows = [row for split in splits for row in manifest.split(split)]
    counts = {name: 0 for name in names}
    for row in rows:
        counts[row.label] += 1
    missing = [name for name, count in counts.items() if count == 0]
    if missing:
        raise BrainEdgeError(
            f"cannot weight classes: the {' and '.join(splits)} split has no images of {', '.join(missing)}"
        )
    total, num_classes = len(rows), len(names)
    return {i: total / (num_classes * counts[name]) for i, name in enumerate(names)}


def _root_line(path: Path, root: Path) -> str:
    base = os.path.realpath(path.parent)
    target = os.path.realpath(root)
    try:
        stored = Path(os.path.relpath(target, base)).as_posix()
    except ValueError:  # Windows: root on another drive than the manifest.
        stored = Path(target).as_posix()
    return ROOT_PREFIX + stored


def write_manifest(path: Path, manifest: Manifest) -> None:
    """Write the manifest as CSV, rows sorted by path: identical input, identical bytes."""
    path = Path(path)
    buffer = io.StringIO()
    root_line = _root_line(path, manifest.root)
    if not is_utf8_name(root_line) or len(root_line.splitlines()) != 1:
        raise BrainEdgeError(f"{shown(path)}: dataset root {shown(manifest.root)} is not one line of UTF-8 text")
    buffer.write(root_line + "\n")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in sorted(manifest.rows, key=lambda r: r.path):
        problem = text_name_problem(row.path) or text_name_problem(row.label)
        if problem:
            raise BrainEdgeError(f"{shown(path)}: cannot store {shown(row.path)!r}: {problem}")
        writer.writerow(
            [
                row.path,
                row.label,
                row.split,
                row.group,
                row.sha256,
                row.width,
                row.height,
                "true" if row.leaked else "false",
            ]
        )
    write_output(path, buffer.getvalue().encode("utf-8"))


def is_manifest_text(start: bytes) -> bool:
    """Whether a file's first bytes are a manifest's (the files split --out may replace)."""
    return start.startswith(ROOT_PREFIX.encode())


def read_manifest(path: Path) -> Manifest:
    """Read a manifest written by ``write_manifest``; any malformed line is a one-line error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BrainEdgeError(f"{path}: no such manifest file") from None
    except (OSError, UnicodeDecodeError) as error:  # a folder, no permission, a path through a file
        raise BrainEdgeError(f"{path}: cannot read manifest ({getattr(error, 'strerror', None) or error})") from None
    stream = io.StringIO(text, newline="")  # only \r and \n end lines: a quoted name may hold any other character
    first = stream.readline().rstrip("\r\n")
    if not first.startswith(ROOT_PREFIX):
        raise BrainEdgeError(f"{path}: not a BrainEdge manifest (first line must be '{ROOT_PREFIX}<dir>')")
    root = _resolve_root(path, first[len(ROOT_PREFIX) :].strip())
    start = 1
    position = stream.tell()
    while stream.readline().startswith("#"):
        start += 1
        position = stream.tell()
    stream.seek(position)
    records = csv.reader(stream)
    header = next(records, None)
    if header is None or tuple(header) != COLUMNS:
        raise BrainEdgeError(f"{path}: bad header {header}; expected {','.join(COLUMNS)}")
    rows = []
    for record in records:
        if record:
            rows.append(_parse_row(path, start + records.line_num, record))
    return Manifest(root=root, rows=rows)


def _resolve_root(path: Path, stored: str) -> Path:
    if not stored:
        raise BrainEdgeError(f"{path}: empty dataset root on line 1")
    root = Path(PurePosixPath(stored))
    return root if root.is_absolute() else Path(os.path.normpath(Path(os.path.realpath(path.parent)) / root))


def _parse_row(path: Path, number: int, record: list[str]) -> ManifestRow:
    where = f"{path}:{number}"
    if len(record) != len(COLUMNS):
        raise BrainEdgeError(f"{where}: expected {len(COLUMNS)} columns, got {len(record)}")
    file, label, split, group, sha256, width, height, leaked = record
    if split not in SPLITS:
        raise BrainEdgeError(f"{where}: split must be one of {', '.join(SPLITS)}, got {split!r}")
    if leaked not in ("true", "false"):
        raise BrainEdgeError(f"{where}: leaked must be true or false, got {leaked!r}")
    if not file or not label:
        raise BrainEdgeError(f"{where}: empty path or label")
    try:
        size = int(width), int(height)
    except ValueError:
        raise BrainEdgeError(f"{where}: width and height must be integers, got {width!r}, {height!r}") from None
    return ManifestRow(
        path=file,
        label=label,
        split=split,
        group=group,
        sha256=sha256,
        width=size[0],
        height=size[1],
        leaked=leaked == "true",
    )
