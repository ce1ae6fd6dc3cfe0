"""The model bundle as a type: the one way to open, find and write a bundle directory.

A bundle is a directory holding the model file, ``labels.txt`` and ``metadata.json``. Export
writes it; the runtime, the benchmarks, the Android tools and the tests open it through
``Bundle``, so every reader checks the same things and says the same words when one fails.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import write_atomically
from brainedge.edge_runtime.metadata import (
    LABELS_FILE,
    METADATA_FILE,
    BundleMetadata,
    HeadSpec,
    read_labels,
    write_labels,
)
from brainedge.edge_runtime.variants import VARIANT_NAMES, Variant, known_variant

PENDING = {"status": "pending"}
"""The verification record of a bundle being exported: replaced by the check's result before the
bundle is published, so a bundle still carrying it was interrupted and is refused."""


@dataclass(frozen=True)
class Bundle:
    """An opened bundle: its directory and its validated metadata."""

    directory: Path
    metadata: BundleMetadata

    @classmethod
    def open(cls, directory: str | Path, check_model: bool = True) -> Bundle:
        """Read and validate a bundle; ``check_model`` also compares the model's SHA-256 and the labels."""
        if not str(directory).strip():  # Path("") is the current folder: refused by name, as the CLIs do
            raise BrainEdgeError("the bundle is an empty path (an unset shell variable?)")
        directory = Path(directory)
        if not directory.is_dir():
            kind = "not a directory" if directory.exists() else "bundle directory not found"
            raise BrainEdgeError(f"{directory}: {kind}")
        metadata = BundleMetadata.read(directory / METADATA_FILE)
        if metadata.verification == PENDING:
            raise BrainEdgeError(
                f"{directory}: its export was interrupted before the bundle was verified; export it again"
            )
        bundle = cls(directory, metadata)
        bundle._check_model_file()
        if check_model:
            bundle._check_model_hash()
            bundle._check_head_hash()
            bundle._check_labels()
        return bundle

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def model_path(self) -> Path:
        return self.directory / self.metadata.model_file

    @property
    def labels_path(self) -> Path:
        return self.directory / self.metadata.labels_file

    @property
    def head_path(self) -> Path | None:
        """The head file (schema 2 bundles), or None when the model outputs class scores itself."""
        return None if self.metadata.head is None else self.directory / self.metadata.head.file

    @property
    def files(self) -> tuple[Path, ...]:
        """What makes the bundle: model, labels, metadata and head (what a copy of it must carry)."""
        head = () if self.head_path is None else (self.head_path,)
        return self.model_path, self.labels_path, self.directory / METADATA_FILE, *head

    @property
    def class_names(self) -> list[str]:
        return self.metadata.class_names

    @property
    def variant(self) -> Variant | None:
        """The row of the variant table this bundle was made as (None for a hand-made bundle)."""
        return known_variant(self.metadata.variant)

    @property
    def is_float_reference(self) -> bool:
        """A float32 model: what quantized bundles are compared with."""
        found = self.variant
        return found.float_reference if found else self.metadata.input.dtype == "float32" == self.metadata.output.dtype

    @property
    def size_bytes(self) -> int:
        """What the bundle adds to a device: the model file and the head file."""
        return sum(path.stat().st_size for path in (self.model_path, self.head_path) if path is not None)

    def with_metadata(self, **changes: Any) -> Bundle:
        """Rewrite metadata.json with some fields changed (e.g. verification results), atomically."""
        metadata = replace(self.metadata, **changes)
        write_atomically(self.directory / METADATA_FILE, metadata.to_json().encode("utf-8"))
        return Bundle(self.directory, metadata)

    def with_head(self, head: HeadSpec, head_bytes: bytes, **changes: Any) -> Bundle:
        """Write the head file (atomically) and the metadata that describes it, with its SHA-256.

        The model's output is then a feature map, not class scores: its ``activation`` is "none".
        """
        head = replace(head, sha256=sha256_of_bytes(head_bytes))
        changes = {"head": head, "output": replace(self.metadata.output, activation="none"), **changes}
        replace(self.metadata, **changes).check(str(self.directory / METADATA_FILE))
        write_atomically(self.directory / head.file, head_bytes)
        return self.with_metadata(**changes)

    @classmethod
    def write(cls, directory: str | Path, model_bytes: bytes, metadata: BundleMetadata) -> Bundle:
        """Write model, labels.txt and metadata.json into ``directory`` (created; each file atomically).

        The model's SHA-256 is taken from the bytes written, so the metadata cannot disagree with
        the file it describes. Callers that publish a bundle build it in a staging folder
        (``staging_dir``) and move it into place with ``publish``.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        metadata = replace(metadata, model_sha256=sha256_of_bytes(model_bytes), labels_file=LABELS_FILE)
        metadata.check(f"{directory / METADATA_FILE}")
        write_atomically(directory / metadata.model_file, model_bytes)
        write_labels(directory / LABELS_FILE, metadata.class_names)
        write_atomically(directory / METADATA_FILE, metadata.to_json().encode("utf-8"))
        return cls(directory, metadata)

    def _check_model_file(self) -> None:
        try:
            if self.model_path.is_file():
                return
            problem = "a directory, not a model file" if self.model_path.is_dir() else "missing"
        except OSError as error:  # e.g. a name longer than the file system allows
            problem = f"cannot be read ({error.strerror})"
        raise BrainEdgeError(f"{self.model_path}: model file named in the bundle metadata is {problem}")

    def _check_model_hash(self) -> None:
        actual = sha256_of(self.model_path)
        if actual != self.metadata.model_sha256:
            raise BrainEdgeError(
                f"{self.model_path}: sha256 {actual[:12]}… does not match the bundle "
                f"metadata ({self.metadata.model_sha256[:12]}…); the model was changed"
            )

    def _check_head_hash(self) -> None:
        if self.head_path is None:
            return
        try:
            actual = sha256_of(self.head_path)
        except FileNotFoundError:
            raise BrainEdgeError(f"{self.head_path}: head file named in the bundle metadata is missing") from None
        except OSError as error:
            raise BrainEdgeError(f"{self.head_path}: cannot be read ({error.strerror})") from None
        if actual != self.metadata.head.sha256:
            raise BrainEdgeError(
                f"{self.head_path}: sha256 {actual[:12]}… does not match the bundle "
                f"metadata ({self.metadata.head.sha256[:12]}…); the head was changed"
            )

    def _check_labels(self) -> None:
        if read_labels(self.labels_path) != self.metadata.class_names:
            raise BrainEdgeError(f"{self.labels_path}: labels differ from the class names in the bundle metadata")


def is_bundle(directory: Path) -> bool:
    """A published bundle: has metadata.json and is not a hidden staging folder of an export."""
    return (directory / METADATA_FILE).is_file() and not directory.name.startswith(".")


def find_bundles(paths: Iterable[str | Path]) -> list[Path]:
    """Bundle directories as given, or every published bundle below a folder (sorted).

    Hidden folders are never searched: an export builds each bundle in a hidden staging folder
    and only renames it into place once verified.
    """
    found: list[Path] = []
    for path in map(Path, paths):
        if (path / METADATA_FILE).is_file():
            found.append(path)
        elif path.is_dir():
            below = sorted(_bundles_below(path))
            if not below:
                raise BrainEdgeError(f"{path}: no bundle (no {METADATA_FILE}) in this directory or below")
            found += below
        else:
            raise BrainEdgeError(f"{path}: bundle or export directory not found")
    return found


def _bundles_below(root: Path) -> Iterable[Path]:
    for folder, subfolders, _names in os.walk(root, followlinks=True):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        if is_bundle(Path(folder)):
            yield Path(folder)


def remove_abandoned_staging(out: Path) -> list[Path]:
    """Remove the hidden staging folders a killed export left in ``out`` (never taken for bundles,
    but they hold whole models). Only while holding ``out``'s ``output_lock``: another export's are in use."""
    if not out.is_dir():
        return []
    abandoned = [path for path in out.iterdir() if path.is_dir() and is_staging(path.name)]
    import shutil  # here, not at the top: see publish

    for path in abandoned:
        shutil.rmtree(path, ignore_errors=True)
    return abandoned


def holds_bundle(folder: Path) -> bool:
    """Whether ``folder`` holds a bundle's metadata: export may replace it, not a user's folder of that name."""
    return (Path(folder) / METADATA_FILE).is_file()


def is_staging(name: str) -> bool:
    """A staging folder of some variant's bundle."""
    return _staging_of(name) in VARIANT_NAMES


def _staging_of(name: str) -> str | None:
    """The bundle name a staging folder (``.NAME-xxxx``, or publish's ``.NAME-old-xxxx``) was made for."""
    match = re.fullmatch(r"\.(.+?)-(?:old-)?[a-z0-9_]+", name)
    return match.group(1) if match else None


def staging_dir(target: Path) -> Path:
    """An empty hidden sibling of ``target`` to build a bundle in; ``publish`` moves it into place."""
    import tempfile  # here, not at the top: see publish

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp's 0700 would make the finished bundle private
    return staging


def publish(staging: Path, target: Path) -> None:
    """Swap a finished bundle directory into place, replacing any older bundle of the same name."""
    # Imported only by what writes bundles: tempfile and shutil bring random, bz2 and lzma, about 1 MB of
    # resident memory that a classify process, which only reads bundles, would carry for nothing.
    import shutil
    import tempfile

    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
        target.rename(old / target.name)
        staging.rename(target)
        shutil.rmtree(old)
    else:
        staging.rename(target)


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = _sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_of_bytes(data: bytes) -> str:
    digest = _sha256()
    digest.update(data)
    return digest.hexdigest()


def _sha256() -> Any:
    """CPython's own SHA-256 where it has one: hashlib's OpenSSL adds ~3.5 MB to a Pi's process."""
    for module in ("_sha2", "_sha256"):  # Python 3.12+, then 3.9-3.11
        try:
            return importlib.import_module(module).sha256()
        except (ImportError, AttributeError):
            continue
    import hashlib

    return hashlib.sha256()
