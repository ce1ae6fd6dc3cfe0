"""The dataset audit: what is in the folders, what cannot be read, and what is duplicated where.

``run_audit`` reads every image once (``hashing``), links near-duplicates (``duplicates``)
and keeps the result; ``summarize`` turns it into the JSON facts the report is written from.
A "part" is a source split: a root given on the command line, Kaggle's ``Training`` or
``Testing``, or a manifest's train/val/test. Near-duplicates across parts are leaks.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import shown
from brainedge.edge_runtime.manifest import SPLITS, Manifest
from brainedge.train.data.duplicates import DEFAULT_THRESHOLD, NearDuplicates, find_near_duplicates, near_pair_blocks
from brainedge.train.data.hashing import HASH_BYTES, HASH_NAME, ImageInfo, inspect_all
from brainedge.train.data.loading import Dataset, ImageFile, class_problems

AUDIT_SCHEMA = "brainedge.audit/1"
HASH_BITS = HASH_BYTES * 8
LISTED_GROUPS = 20


@dataclass(frozen=True)
class Audit:
    dataset: Dataset
    infos: list[ImageInfo]
    """One per ``dataset.images``, same order."""
    threshold: int
    near: NearDuplicates
    """The readable images' groups and pair counts, indexed as ``readable()``: the pairs are not kept."""
    seconds: float

    def readable(self) -> list[int]:
        return [i for i, info in enumerate(self.infos) if info.ok]

    @cached_property
    def components(self) -> np.ndarray:
        """Component label per image (smallest member index); -1 for an unreadable image."""
        readable = np.array(self.readable(), dtype=np.int64)
        components = np.full(len(self.infos), -1, dtype=np.int64)
        if len(readable):
            components[readable] = readable[self.near.components]
        return components

    def pair_blocks(self) -> Iterator[np.ndarray]:
        """The near-duplicate pairs again, (i, j, distance) rows indexing ``dataset.images``, a block at a
        time: recomputed from the hashes (about a second per 5,000 images), as the audit keeps none."""
        readable = np.array(self.readable(), dtype=np.int64)
        for block in near_pair_blocks([self.infos[i].dhash for i in readable], self.threshold):
            yield np.concatenate([readable[block[:, :2]], block[:, 2:]], axis=1)

    def readable_dataset(self) -> Dataset:
        """The dataset without its unreadable images: what class counts and splits are made of."""
        return dataclasses.replace(self.dataset, images=tuple(self.dataset.images[i] for i in self.readable()))

    def groups(self) -> dict[str, list[int]]:
        """Group id -> member indices, for every readable image (singletons included)."""
        members: dict[int, list[int]] = defaultdict(list)
        for index in self.readable():
            members[int(self.components[index])].append(index)
        return {min(self.infos[i].sha256 for i in indices)[:16]: indices for indices in members.values()}


def run_audit(dataset: Dataset, threshold: int = DEFAULT_THRESHOLD, workers: int = 2, progress: bool = True) -> Audit:
    """Hash every image of ``dataset`` and group its near-duplicates."""
    if not 0 <= threshold < HASH_BITS:
        raise BrainEdgeError(f"near-duplicate threshold must be 0..{HASH_BITS - 1} bits, got {threshold}")
    start = time.monotonic()
    infos = inspect_all([image.path for image in dataset.images], workers=workers, progress=progress)
    readable = [i for i, info in enumerate(infos) if info.ok]
    part_index = {part: index for index, part in enumerate(dataset.parts)}
    parts = np.array([part_index.get(dataset.images[i].part, -1) for i in readable], dtype=np.int64)
    near = find_near_duplicates([infos[i].dhash for i in readable], parts, threshold)
    return Audit(dataset=dataset, infos=infos, threshold=threshold, near=near, seconds=time.monotonic() - start)


def manifest_dataset(manifest: Manifest) -> Dataset:
    """A manifest's images as a dataset whose parts are its splits, to re-audit a split for leaks."""
    images = tuple(
        ImageFile(path=manifest.root / row.path, rel=row.path, label=row.label, folder_class=row.label, part=row.split)
        for row in manifest.rows
    )
    parts = tuple(split for split in SPLITS if manifest.split(split))
    labels = {part: tuple(sorted({row.label for row in manifest.split(part)})) for part in parts}
    return Dataset(root=manifest.root, parts=parts, images=images, skipped=(), part_labels=labels)


def _counter(values: Sequence[Any], top: int | None = None) -> dict[str, int]:
    return {str(key): count for key, count in Counter(values).most_common(top)}


def _class_facts(dataset: Dataset) -> dict[str, Any]:
    per_part = {part: dict(sorted(dataset.class_counts(part).items())) for part in dataset.parts}
    total = dict(sorted(dataset.class_counts().items()))
    nonzero = [count for count in total.values() if count]
    return {
        "total": total,
        "by_part": per_part,
        "imbalance_ratio": round(max(nonzero) / min(nonzero), 3) if nonzero else None,
        "mapping": {image.folder_class: image.label for image in dataset.images if image.folder_class != image.label}
        or None,
    }


def _image_facts(audit: Audit) -> dict[str, Any]:
    good = [audit.infos[i] for i in audit.readable()]
    return {
        "sizes": _counter([f"{info.width}x{info.height}" for info in good], top=10),
        "distinct_sizes": len({(info.width, info.height) for info in good}),
        "modes": _counter([info.mode for info in good]),
        "formats": _counter([info.format for info in good]),
        "total_megabytes": round(sum(info.num_bytes for info in audit.infos) / 1e6, 1),
        "unreadable": [
            {"path": audit.dataset.images[i].rel, "error": info.error}
            for i, info in enumerate(audit.infos)
            if not info.ok
        ],
        "non_images": [{"path": path, "reason": reason} for path, reason in audit.dataset.skipped],
    }


def _exact_facts(audit: Audit) -> dict[str, Any]:
    by_sha: dict[str, list[int]] = defaultdict(list)
    for index in audit.readable():
        by_sha[audit.infos[index].sha256].append(index)
    copies = [indices for indices in by_sha.values() if len(indices) > 1]
    images = audit.dataset.images
    cross = [indices for indices in copies if len({images[i].part for i in indices}) > 1]
    return {
        "groups": len(copies),
        "images": sum(len(indices) for indices in copies),
        "redundant_copies": sum(len(indices) - 1 for indices in copies),
        "cross_part_groups": len(cross),
        "cross_part_images": _counter([images[i].part for indices in cross for i in indices]),
    }


def _near_facts(audit: Audit, groups: dict[str, list[int]]) -> dict[str, Any]:
    images = audit.dataset.images
    readable, near = audit.readable(), audit.near
    same_part = [index for index, flag in zip(readable, near.near_same_kind) if flag]
    other_part = [index for index, flag in zip(readable, near.near_other_kind) if flag]
    multi = [indices for indices in groups.values() if len(indices) > 1]
    return {
        "threshold": audit.threshold,
        "hash": HASH_NAME,
        "pairs": near.pairs,
        "groups": len(multi),
        "images": sum(len(indices) for indices in multi),
        "largest_group": max((len(indices) for indices in multi), default=1),
        "images_with_near_duplicate_in_same_part": _counter([images[i].part for i in same_part]),
        "cross_part_pairs": near.cross_pairs,
        "cross_part_groups": sum(1 for indices in multi if len({images[i].part for i in indices}) > 1),
        "images_with_near_duplicate_in_other_part": _counter([images[i].part for i in other_part]),
        "mixed_label_groups": sum(1 for indices in multi if len({images[i].label for i in indices}) > 1),
    }


def _group_record(audit: Audit, group: str, indices: list[int]) -> dict[str, Any]:
    images = audit.dataset.images
    return {
        "id": group,
        "size": len(indices),
        "labels": _counter([images[i].label for i in indices]),
        "parts": _counter([images[i].part for i in indices]),
        "members": [images[i].rel for i in indices],
    }


def listed_groups(audit: Audit, groups: dict[str, list[int]]) -> list[tuple[str, list[int]]]:
    """The groups worth showing: every mixed-label or cross-part group, then the largest others."""
    images = audit.dataset.images

    def alarming(indices: list[int]) -> bool:
        return len({images[i].label for i in indices}) > 1 or len({images[i].part for i in indices}) > 1

    multi = sorted(((g, m) for g, m in groups.items() if len(m) > 1), key=lambda item: (-len(item[1]), item[0]))
    flagged = [item for item in multi if alarming(item[1])]
    others = [item for item in multi if not alarming(item[1])]
    return flagged + others[: max(LISTED_GROUPS - len(flagged), 0)]


def _warnings(dataset: Dataset) -> list[str]:
    """Problems that stop a split (classes too small, one class), stated for the user."""
    notes = []
    for part in dataset.parts:
        notes += class_problems(
            dataset.class_counts(part), f"{dataset.root / part}" if len(dataset.parts) > 1 else str(dataset.root)
        )
    if dataset.test_part:
        train_labels = {
            label for part in dataset.parts if part != dataset.test_part for label in dataset.part_labels[part]
        }
        for label in sorted(set(dataset.part_labels[dataset.test_part]) - train_labels):
            notes.append(
                f"class {label!r} is in {dataset.test_part}/ but in no other part: "
                "a model trained on the rest cannot predict it"
            )
    return notes


def summarize(audit: Audit) -> dict[str, Any]:
    """The audit's facts as a JSON-ready dict (the Markdown report says the same)."""
    dataset = audit.dataset
    groups = audit.groups()
    readable = audit.readable()
    unreadable_warnings = (
        [f"{len(audit.infos) - len(readable)} unreadable file(s) excluded (listed below)"]
        if len(readable) < len(audit.infos)
        else []
    )
    return {
        "schema": AUDIT_SCHEMA,
        "root": shown(Path(dataset.root).resolve()),
        "parts": list(dataset.parts),
        "test_part": dataset.test_part,
        "files": len(dataset.images) + len(dataset.skipped),
        "images": len(dataset.images),
        "readable_images": len(readable),
        "seconds": round(audit.seconds, 2),
        "classes": _class_facts(audit.readable_dataset()),
        **_image_facts(audit),
        "exact_duplicates": _exact_facts(audit),
        "near_duplicates": _near_facts(audit, groups),
        "duplicate_groups": [_group_record(audit, group, indices) for group, indices in listed_groups(audit, groups)],
        "warnings": unreadable_warnings + _warnings(audit.readable_dataset()),
    }
