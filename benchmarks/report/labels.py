"""How the report names a row (artifact, backend, threads, and where it ran), and which rows (and images) it picks out:
those that speak for a bundle's answers, the images some row could not read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

from brainedge.benchmarks.rows import ANSWER_FIELDS, BenchRow

Placed = Union[BenchRow, dict[str, Any]]
"""A row, or a ratio (a JSON object with a ``run`` and, mostly, a ``device``)."""


def threads_label(row: BenchRow) -> str:
    """ "2t" for two interpreter threads; rows from elsewhere may leave the count to the backend."""
    return f"{row.threads}t" if row.threads else "default threads"


def row_label(row: BenchRow, with_device: bool, rows: Sequence[BenchRow] = ()) -> str:
    """Artifact, backend and threads, and where it ran (``where``) when ``with_device``."""
    label = f"{row.artifact} [{row.backend}, {threads_label(row)}]"
    return f"{label} @{where(row, rows)}" if with_device else label


def where(item: Placed, among: Sequence[Placed] = ()) -> str:
    """The device a row (or ratio) ran on, with its run id when ``among`` holds several runs of that device name.

    Merging two results of one machine (the hostname is the default device name) would otherwise
    show two rows of each artifact on "the same" device, indistinguishable.
    """
    device, run = _place(item)
    runs = {other_run for other_device, other_run in map(_place, among) if other_device == device}
    return f"{device} ({run})" if len(runs) > 1 else device


def _place(item: Placed) -> tuple[str, str]:
    """A row's or ratio's device (its run id when it names none) and run id."""
    if isinstance(item, BenchRow):
        return item.device or item.run, item.run
    return item.get("device") or item["run"], item["run"]


def several_devices(rows: Sequence[BenchRow]) -> bool:
    """Whether ``rows`` come from more than one device or run: then each label says where it ran."""
    return len({row.run for row in rows}) > 1 or len({row.device for row in rows}) > 1


def answer_rows(rows: Sequence[BenchRow]) -> list[BenchRow]:
    """One row per bundle and run that reports on its answers (a bundle with a head): its first, in order.

    The answers of one bundle do not depend on the thread count or the backend, so one row stands for them.
    """
    chosen: dict[tuple[str, str], BenchRow] = {}
    for row in rows:
        if row.status == "ok" and any(getattr(row, name) is not None for name in ANSWER_FIELDS):
            chosen.setdefault((row.run, row.artifact), row)
    return list(chosen.values())


def answer_label(row: BenchRow, rows: Sequence[BenchRow]) -> str:
    """The bundle, and where it ran (device, and run when one device has several) when ``rows`` come from several."""
    return f"{row.artifact} @{where(row, rows)}" if several_devices(rows) else row.artifact


def unreadable_images(rows: Sequence[BenchRow]) -> dict[str, str]:
    """Every test image some row could not decode, with the first reason given, in order of appearance."""
    found: dict[str, str] = {}
    for row in rows:
        for image in row.unreadable_images or []:
            found.setdefault(image["path"], image["error"])
    return found


def unreadable_ood_images(rows: Sequence[BenchRow]) -> dict[str, str]:
    """Every OOD-set image some row could not decode, with the first reason given, in order of appearance."""
    found: dict[str, str] = {}
    for row in rows:
        for image in (row.ood_set or {}).get("unreadable_images") or []:
            found.setdefault(image["path"], image["error"])
    return found
