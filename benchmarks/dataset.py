"""The labelled test set: a manifest's split or a class-per-folder directory.

The bundle's class names are the truth. Every class the test set names must exist in
the bundle, otherwise accuracy would silently compare different label spaces.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import is_image_name, scan_folder, shown, walk_files


@dataclass(frozen=True)
class LabelledSet:
    """Image paths and their class *names*, before they are matched to a bundle."""

    source: str
    paths: list[Path]
    class_names: list[str]
    leaked_left_out: int | None = None
    """Of a manifest's split: the leaked test images left out (None: a folder, or asked to keep them)."""

    def labels_for(self, bundle_classes: list[str]) -> list[int]:
        """Class indices in the bundle's order; a class the bundle lacks is an error."""
        missing = sorted(set(self.class_names) - set(bundle_classes))
        if missing:
            raise BrainEdgeError(
                f"{self.source}: class(es) {', '.join(missing)} are not in the bundle's "
                f"classes ({', '.join(bundle_classes)})"
            )
        index = {name: i for i, name in enumerate(bundle_classes)}
        return [index[name] for name in self.class_names]

    def subset(self, limit: int | None) -> LabelledSet:
        """Exactly ``limit`` images (all when there are no more), spread evenly over the (class-sorted) list.

        Image k of the ``limit`` is the one in the middle of the k-th of ``limit`` equal stretches of the N,
        so each class keeps about its share (every ceil(N / limit)-th image would use far fewer: 172 of 857
        for a limit of 200).
        """
        if limit is not None and limit < 1:
            raise BrainEdgeError(f"--limit must be at least 1, got {limit}")
        if limit is None or limit >= len(self.paths):
            return self
        chosen = [(2 * k + 1) * len(self.paths) // (2 * limit) for k in range(limit)]
        return LabelledSet(
            self.source, [self.paths[i] for i in chosen], [self.class_names[i] for i in chosen], self.leaked_left_out
        )

    def describe(self) -> dict[str, object]:
        counts: dict[str, int] = {}
        for name in self.class_names:
            counts[name] = counts.get(name, 0) + 1
        return {"source": self.source, "images": len(self.paths), "per_class": counts}


def load_test_set(path: Path, split: str = "test", include_leaked: bool = False) -> LabelledSet:
    """A folder is read class-per-folder; a file is read as a manifest and its ``split`` taken."""
    path = Path(path)
    if path.is_dir():
        return folder_test_set(path)
    if path.is_file():
        return manifest_test_set(path, split, include_leaked)
    raise BrainEdgeError(f"{path}: test set not found (expected a class-per-folder directory or a manifest)")


def folder_test_set(root: Path) -> LabelledSet:
    """Each subdirectory is a class; its image files (``files.walk_files``: links followed, hidden skipped) the samples.

    What the walk leaves out (a FIFO, a broken link, a link cycle) is named on stderr.
    """
    paths: list[Path] = []
    names: list[str] = []
    for class_dir in scan_folder(root).folders:
        walk = walk_files(class_dir)
        for path, reason in walk.problems:
            print(f"warning: skipped {shown(path)}: {reason}", file=sys.stderr)
        images = sorted(path for path in walk.files if is_image_name(path))
        paths += images
        names += [class_dir.name] * len(images)
    if not paths:
        raise BrainEdgeError(f"{shown(root)}: no images in class subfolders (expected ROOT/CLASS/IMAGE)")
    return LabelledSet(str(root), paths, names)


def manifest_test_set(path: Path, split: str, include_leaked: bool = False) -> LabelledSet:
    """The ``split`` rows of a brainedge-data manifest, without images leaked from train/val.

    A test image with a near-duplicate in training inflates accuracy, so it is left out
    unless asked for.
    """
    from brainedge.edge_runtime.manifest import read_manifest
    from brainedge.edge_runtime.scoring import labelled_split

    chosen = labelled_split(read_manifest(path), split, include_leaked)
    if not chosen.paths:
        raise BrainEdgeError(f"{path}: split {split!r} has no images")
    names = [chosen.class_names[i] for i in chosen.labels]
    return LabelledSet(f"{path}:{split}", list(chosen.paths), names, None if include_leaked else chosen.leaked_left_out)
