"""Stratified, group-aware train/val/test split: no near-duplicate group is ever cut in two.

Groups (near-duplicate components, singletons included) are placed whole, largest first,
each into the split whose per-class quota it helps most (relative deficit, weighted by the
group's labels). Ties in size are broken by a seeded shuffle, so a seed fixes the split.
Each held-out split gets at least one image of every class. With a Kaggle ``Testing/``
folder kept as the test split, only ``Training/`` is divided (into train and val) and
test images whose group reaches into train/val are flagged ``leaked``.

A class with fewer groups than splits cannot be in all of them. Where that leaves it out of
train or val, the split is refused (training would refuse it); out of test, it is a warning. An
image filed under two classes (the same bytes, or near-duplicates) is a warning too: its group
goes whole into one split carrying both labels.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import check_replaceable, lock_name, output_lock
from brainedge.edge_runtime.files import shown as shown_name
from brainedge.edge_runtime.manifest import SPLITS, Manifest, ManifestRow, is_manifest_text, write_manifest
from brainedge.train.data.audit import Audit, run_audit
from brainedge.train.data.duplicates import DEFAULT_THRESHOLD
from brainedge.train.data.loading import Dataset, class_problems, load_dataset


def check_fractions(val_fraction: float, test_fraction: float) -> dict[str, float]:
    """{"train": ..., "val": ..., "test": ...}, or a clear error for impossible fractions."""
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise BrainEdgeError(
            f"val fraction {val_fraction} and test fraction {test_fraction} must each be in "
            "[0, 1) and leave something to train on (val + test < 1)"
        )
    return {"train": 1 - val_fraction - test_fraction, "val": val_fraction, "test": test_fraction}


def _targets(labels: Sequence[str], fractions: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Images of each class each split should get; a used held-out split gets at least one."""
    counts = Counter(labels)
    targets = {}
    for split, fraction in fractions.items():
        floor = 1.0 if split != "train" and fraction > 0 else 0.0
        targets[split] = {label: max(count * fraction, floor) for label, count in counts.items()}
    return targets


def assign_splits(
    labels: Sequence[str], groups: Sequence[str], fractions: Mapping[str, float], seed: int = 0
) -> list[str]:
    """A split name per item; items sharing a group always share a split."""
    members: dict[str, list[int]] = defaultdict(list)
    for index, group in enumerate(groups):
        members[group].append(index)
    order = sorted(members)
    shuffled = [order[i] for i in np.random.default_rng(seed).permutation(len(order))]
    shuffled.sort(key=lambda group: -len(members[group]))  # stable: the shuffle breaks size ties
    targets = _targets(labels, fractions)
    used = [split for split in SPLITS if fractions.get(split, 0) > 0]
    filled = {split: Counter() for split in used}
    result = [""] * len(labels)
    for group in shuffled:
        need = Counter(labels[i] for i in members[group])

        def deficit(split: str, need: Counter = need) -> float:
            goal, have = targets[split], filled[split]
            return sum(count * (goal[label] - have[label]) / goal[label] for label, count in need.items())

        best = max(used, key=deficit)  # max keeps the first of equals: train, val, test
        filled[best].update(need)
        for index in members[group]:
            result[index] = best
    return result


def _group_ids(audit: Audit) -> list[str]:
    ids = [""] * len(audit.infos)
    for group, indices in audit.groups().items():
        for index in indices:
            ids[index] = group
    return ids


def _report_excluded(audit: Audit) -> None:
    for image, info in zip(audit.dataset.images, audit.infos):
        if not info.ok:
            print(f"warning: excluded {image.rel}: {info.error}", file=sys.stderr)
    if audit.dataset.skipped:
        path, reason = audit.dataset.skipped[0]
        print(
            f"warning: left out {len(audit.dataset.skipped)} file(s) that are not images in class folders "
            f"(e.g. {path}: {reason}); `brainedge-data audit` lists them",
            file=sys.stderr,
        )


def _check_classes(dataset: Dataset, pool: list[int], kept_test: list[int]) -> None:
    pool_counts = Counter(
        {
            label: 0
            for part in dataset.parts
            if part != dataset.test_part or not kept_test
            for label in dataset.part_labels[part]
        }
    )
    pool_counts.update(dataset.images[i].label for i in pool)
    where = str(dataset.root / dataset.parts[0]) if kept_test else str(dataset.root)
    problems = class_problems(pool_counts, where)
    test_only = sorted({dataset.images[i].label for i in kept_test} - set(pool_counts))
    problems += [
        f"{dataset.root / dataset.test_part}: class {label!r} is there but not in the rest of {dataset.root}"
        for label in test_only
    ]
    if kept_test:  # a class without test images would have no recall and would not weigh in the test score
        untested = sorted(set(pool_counts) - {dataset.images[i].label for i in kept_test})
        problems += [
            f"{dataset.root / dataset.test_part}: class {label!r} has no readable image there, so it would not be "
            "tested: add its test images, or pass --no-keep-test to split Training/ and Testing/ afresh"
            for label in untested
        ]
    if problems:
        raise BrainEdgeError(problems[0] + (f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""))


def split_audit(
    audit: Audit, val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0, keep_test: bool = True
) -> Manifest:
    """The manifest for an audited dataset: unreadable files out, groups whole, splits stratified."""
    dataset = audit.dataset
    fractions = check_fractions(val_fraction, test_fraction)
    readable = audit.readable()
    kept_test = [i for i in readable if keep_test and dataset.images[i].part == dataset.test_part]
    held = set(kept_test)
    pool = [i for i in readable if i not in held]
    if kept_test:
        fractions = {"train": 1 - val_fraction, "val": val_fraction, "test": 0.0}
    _check_classes(dataset, pool, kept_test)
    groups = _group_ids(audit)
    splits = dict(
        zip(pool, assign_splits([dataset.images[i].label for i in pool], [groups[i] for i in pool], fractions, seed))
    )
    splits.update((i, "test") for i in kept_test)
    trained_groups = {groups[i] for i in pool if splits[i] != "test"}
    rows = []
    for index in readable:
        image, info = dataset.images[index], audit.infos[index]
        rows.append(
            ManifestRow(
                path=image.rel,
                label=image.label,
                split=splits[index],
                group=groups[index],
                sha256=info.sha256,
                width=info.width,
                height=info.height,
                leaked=splits[index] == "test" and groups[index] in trained_groups,
            )
        )
    manifest = Manifest(root=Path(dataset.root), rows=sorted(rows, key=lambda row: row.path))
    _check_trainable(manifest, [split for split in SPLITS if fractions[split] > 0], audit.threshold)
    for warning in _mixed_label_warnings(manifest):
        print(f"warning: {warning}", file=sys.stderr)
    return manifest


LISTED_CASES = 10
"""Warnings of one kind printed one line each; beyond them, one line counts the rest."""


def _check_trainable(manifest: Manifest, assigned: Sequence[str], threshold: int) -> None:
    """Refuse a split leaving a class out of train or val (training refuses it); warn of one left out of test."""
    members: dict[str, list[ManifestRow]] = defaultdict(list)
    for row in manifest.rows:
        if row.split in assigned:  # a kept Testing/ folder's images are not divided
            members[row.label].append(row)
    refusals, warnings = [], []
    for label, rows in sorted(members.items()):
        missing = [split for split in assigned if split not in {row.split for row in rows}]
        if not missing:
            continue
        groups = len({row.group for row in rows})
        why = (
            f"class {label!r} gets no {' or '.join(missing)} images: its {len(rows)} images are {groups} "
            f"near-duplicate group(s) at --threshold {threshold}, and a group is never cut in two"
        )
        if {"train", "val"} & set(missing):
            refusals.append(f"{why}; training needs every class in train and val: add distinct images of it")
        else:
            warnings.append(f"{why}; its test recall cannot be measured")
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if refusals:
        more = f" (and {len(refusals) - 1} more class(es))" if len(refusals) > 1 else ""
        raise BrainEdgeError(f"{shown_name(manifest.root)}: {refusals[0]}{more}")


def _mixed_label_warnings(manifest: Manifest) -> list[str]:
    """One line per image filed under two classes: the same bytes, or near-duplicates (a mixed-label group)."""
    by_sha: dict[str, list[ManifestRow]] = defaultdict(list)
    by_group: dict[str, list[ManifestRow]] = defaultdict(list)
    for row in manifest.rows:
        by_sha[row.sha256].append(row)
        by_group[row.group].append(row)
    same = [rows for rows in by_sha.values() if len({row.label for row in rows}) > 1]
    explained = {row.group for rows in same for row in rows}
    near = [rows for group, rows in by_group.items() if len({row.label for row in rows}) > 1 and group not in explained]
    cases = [
        f"the same image (identical bytes) is under classes {_classes(rows)}: {_files(rows)}; it is trained or "
        "tested with both labels: remove the wrong copy"
        for rows in same
    ] + [
        f"near-duplicates under classes {_classes(rows)}: {_files(rows)}; their group goes whole into "
        f"{_splits(rows)} with both labels: check them, or lower --threshold if they differ"
        for rows in near
    ]
    if len(cases) > LISTED_CASES:
        more = len(cases) - LISTED_CASES
        cases = [
            *cases[:LISTED_CASES],
            f"and {more} more image(s) under two classes; `brainedge-data audit` lists them",
        ]
    return cases


def _classes(rows: Sequence[ManifestRow]) -> str:
    return " and ".join(repr(label) for label in sorted({row.label for row in rows}))


def _files(rows: Sequence[ManifestRow]) -> str:
    """A few of the files, one of each class first."""
    first = {row.label: row for row in reversed(rows)}
    listed = sorted(first.values(), key=lambda row: row.label)[:3]
    rest = len(rows) - len(listed)
    return ", ".join(shown_name(row.path) for row in listed) + (f" (and {rest} more)" if rest else "")


def _splits(rows: Sequence[ManifestRow]) -> str:
    return "/".join(split for split in SPLITS if split in {row.split for row in rows})


def make_split(
    root: Path,
    out: Path,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    threshold: int = DEFAULT_THRESHOLD,
    mapping: Mapping[str, str] | None = None,
    progress: bool = True,
    keep_test: bool = True,
    workers: int = 2,
) -> Manifest:
    """Audit ``root``, split it leak-free and write the manifest to ``out``.

    With a Kaggle layout (``Training/`` + ``Testing/``) and ``keep_test``, ``Testing/`` is
    the test split and ``test_fraction`` is unused; ``val_fraction`` is taken from Training.
    An ``out`` that cannot be written is refused before the audit; the write is atomic.
    """
    check_fractions(val_fraction, test_fraction)
    check_replaceable(out, is_manifest_text, "a BrainEdge manifest")
    with output_lock(Path(out).parent, "brainedge-data split", lock_name(out)):  # the manifest's own lock
        audit = run_audit(load_dataset(root, mapping), threshold=threshold, workers=workers, progress=progress)
        _report_excluded(audit)
        manifest = split_audit(audit, val_fraction, test_fraction, seed, keep_test)
        write_manifest(out, manifest)
    return manifest
