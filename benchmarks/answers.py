"""Whether a bundle's answers can be taken at their word: calibration, referral and out-of-distribution refusal.

The runner returns, per test image, the calibrated top-1 confidence and, for a bundle with a head,
the logits and the out-of-distribution (OOD) flag; this module turns them, with the labels the
parent holds, into a row's answer fields:

- ``temperature``; ``calibration_before`` (T = 1) and ``calibration_after`` (the bundle's temperature):
  ECE (15 bins), NLL and Brier, from the logits, as ``edge_runtime.calibration`` computes them;
  ``reliability``: the bins of both, for the report's reliability diagram;
- ``referral``: the bundle's confidence threshold (and the target accuracy it was chosen for), the
  share of test images whose answer it accepts and their accuracy; ``risk_coverage``: error rate
  against coverage at every threshold, for the report's plot. An answer is *accepted* only when the
  bundle does not refuse it as OOD and its calibrated top-1 confidence reaches the threshold; coverage
  is accepted / all test images that decode (as export computes it on the validation split), and
  the curve ranks the answers not refused, so it ends at the share not refused;
- ``test_ood``: the test images the bundle refuses as OOD (what refusal costs in distribution),
  overall and per true class;
- ``ood_set``: the share of an OOD image set (``--ood-set``) it refuses, per top-level folder, over
  the folders of kind "ood" and, apart, over those of kind "near"; an image that does not decode is
  named in ``unreadable_images`` and left out of every share;
- ``head_ms``, ``ood_ms``: the head's cost and its OOD distance's, measured by the runner.

A bundle without a head (schema 1, or a third-party model) has every one of them null: it is
benchmarked as before. All of them are computed over the test images that decode (and whose logits
are finite); an unreadable image is already counted wrong in accuracy and named in the row.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brainedge.benchmarks.rows import ANSWER_FIELDS
from brainedge.edge_runtime.calibration import accepted_answers, calibration_scores, reliability_bins, risk_coverage
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import is_image_name, shown, walk_files
from brainedge.edge_runtime.head import softmax

SOURCES_FILE = "sources.json"
"""Beside an OOD set made by ``benchmarks.studies.ood_set``: each folder's kind ("ood" or "near")."""
OOD, NEAR = "ood", "near"
KINDS = (OOD, NEAR)
TOP_LEVEL = "."
"""The group of images lying directly in the OOD set's folder rather than in a subfolder."""
RISK_POINTS = 200
"""At most this many points of the risk-coverage curve are kept in a row (the curve's ends always)."""


@dataclass(frozen=True)
class OodSet:
    """Images that are not what the model was trained on, each with its top-level folder (its group)."""

    source: str
    paths: list[Path]
    groups: list[str]
    kinds: dict[str, str | None]
    """Each group's kind: "ood", "near", or None when sources.json does not list it."""

    def describe(self) -> dict[str, Any]:
        """The run record's summary: where the set is, and each group's kind and image count."""
        return {
            "source": self.source,
            "images": len(self.paths),
            "groups": [
                {"name": name, "kind": self.kinds[name], "images": self.groups.count(name)} for name in self.group_names
            ],
        }

    @property
    def group_names(self) -> list[str]:
        return list(dict.fromkeys(self.groups))


def load_ood_set(root: Path) -> OodSet:
    """Every image under ``root`` (recursively; hidden files and folders skipped), grouped by top-level folder.

    ``root/sources.json`` (as ``benchmarks.studies.ood_set`` writes it) says each folder's kind; a
    folder it does not list is reported alone, in neither aggregate. Without it every folder is "ood".
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise BrainEdgeError(
            f"{shown(root)}: not a folder (the OOD set is a folder of images, in subfolders, not a file)"
        )
    if not root.is_dir():
        raise BrainEdgeError(f"{shown(root)}: OOD set not found (expected a folder of images, in subfolders)")
    walk = walk_files(root)
    for path, reason in walk.problems:
        print(f"warning: skipped {shown(path)}: {reason}", file=sys.stderr)
    paths = sorted(path for path in walk.files if is_image_name(path))
    if not paths:
        raise BrainEdgeError(f"{shown(root)}: no images in the OOD set")
    groups = [_group_of(path, root) for path in paths]
    listed = _listed_kinds(root / SOURCES_FILE)
    names = list(dict.fromkeys(groups))
    kinds = {name: OOD for name in names} if listed is None else {name: listed.get(name) for name in names}
    return OodSet(str(root), paths, groups, kinds)


def _group_of(path: Path, root: Path) -> str:
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else TOP_LEVEL


def _listed_kinds(path: Path) -> dict[str, str] | None:
    """Folder name → kind from an OOD set's sources.json; None when there is no such file."""
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as error:
        raise BrainEdgeError(f"{shown(path)}: cannot read ({error.strerror or error})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BrainEdgeError(f"{shown(path)}: not valid JSON ({error})") from None
    entries = document.get("groups") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("name"), str) and isinstance(e.get("kind"), str) for e in entries
    ):
        raise BrainEdgeError(
            f'{shown(path)}: expected {{"groups": [{{"name": FOLDER, "kind": "ood" or "near"}}, ...]}}'
        )
    for entry in entries:
        if entry["kind"] not in KINDS:
            raise BrainEdgeError(
                f"{shown(path)}: folder {entry['name']!r} has kind {json.dumps(entry['kind'])}; "
                f"allowed kinds: {', '.join(json.dumps(kind) for kind in KINDS)}"
            )
    return {entry["name"]: entry["kind"] for entry in entries}


def answer_fields(
    labels: Sequence[int],
    payload: dict[str, Any],
    ood_set: OodSet | None = None,
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """A row's answer fields from the labels and the runner's payload (every one null without a head).

    ``class_names`` name the per-class refusal shares (the label index when not given).
    """
    fields: dict[str, Any] = dict.fromkeys(ANSWER_FIELDS)
    answers = payload.get("answers") if payload.get("status") == "ok" else None
    if not isinstance(answers, dict) or not answers.get("head"):
        return fields
    fields["temperature"] = answers.get("temperature")
    fields["head_ms"] = answers.get("head_ms")
    fields["ood_ms"] = answers.get("ood_ms")
    logits = answers.get("logits") or []
    # an image that did not decode has no logits; one a broken model answered NaN for has no usable ones
    readable = [i for i, row in enumerate(logits) if row is not None and np.isfinite(row).all()]
    predictions = payload.get("predictions") or []
    flagged = answers.get("ood_flagged")
    if flagged is not None and len(flagged) != len(logits):
        flagged = None  # not one flag per image: nothing to say about refusal
    if labels and readable and len(labels) == len(logits) == len(predictions):
        truth = np.asarray(labels)[readable]
        fields.update(
            calibration(np.asarray([logits[i] for i in readable], np.float64), truth, fields["temperature"] or 1.0)
        )
        confidence = np.asarray([answers["confidence"][i] for i in readable], np.float64)
        correct = np.asarray(predictions)[readable] == truth
        refused = np.asarray([flagged is not None and bool(flagged[i]) for i in readable], bool)
        fields["referral"] = referral(
            confidence, correct, answers.get("confidence_threshold"), answers.get("target_accuracy"), refused
        )
        fields["risk_coverage"] = risk_coverage_curve(confidence, correct, refused)
    if flagged is not None:
        known = [i for i in readable if flagged[i] is not None]
        fields["test_ood"] = share([flagged[i] for i in known])
        if labels and len(labels) == len(flagged):
            fields["test_ood"]["per_class"] = per_class_shares(
                [labels[i] for i in known], [flagged[i] for i in known], class_names
            )
    refusals = answers.get("ood_set")
    if ood_set is not None and isinstance(refusals, dict) and len(refusals.get("flagged") or []) == len(ood_set.paths):
        fields["ood_set"] = ood_set_shares(ood_set, refusals["flagged"], refusals.get("unreadable"))
    return fields


def calibration(logits: np.ndarray, labels: np.ndarray, temperature: float) -> dict[str, Any]:
    """ECE, NLL and Brier before (T = 1) and after the temperature, and both sets of reliability bins."""
    before, after = softmax(logits, 1.0), softmax(logits, temperature)
    bins_before, bins_after = reliability_bins(before, labels), reliability_bins(after, labels)
    return {
        "calibration_before": calibration_scores(before, labels),
        "calibration_after": calibration_scores(after, labels),
        "reliability": {
            "edges": bins_before.edges.tolist(),
            "before": _bins(bins_before),
            "after": _bins(bins_after),
        },
    }


def _bins(bins: Any) -> dict[str, list]:
    return {
        "counts": [int(c) for c in bins.counts],
        "confidence": [float(c) for c in bins.confidence],
        "accuracy": [float(a) for a in bins.accuracy],
    }


def referral(
    confidence: np.ndarray,
    correct: np.ndarray,
    threshold: float | None,
    target: float | None,
    refused: np.ndarray | None = None,
) -> dict[str, Any] | None:
    """What the bundle's threshold does on the test set: the answers it accepts and their accuracy.

    An answer is accepted when it is not ``refused`` as out-of-distribution and its confidence reaches
    the threshold; coverage is accepted / all images (refused ones included), as export reports it.
    """
    if threshold is None or not len(confidence):
        return None
    refused = np.zeros(len(confidence), bool) if refused is None else np.asarray(refused, bool)
    accepted = accepted_answers(confidence, refused, threshold)
    count = int(accepted.sum())
    return {
        "threshold": float(threshold),
        "target_accuracy": target,
        "images": len(confidence),
        "refused": int(refused.sum()),
        "accepted": count,
        "coverage": count / len(confidence),
        "accuracy": float(correct[accepted].mean()) if count else None,
    }


def risk_coverage_curve(
    confidence: np.ndarray, correct: np.ndarray, refused: np.ndarray | None = None
) -> dict[str, list[float]] | None:
    """Coverage and error rate at each distinct threshold, most confident first, thinned to RISK_POINTS.

    Only answers not ``refused`` as out-of-distribution are ranked (a refused one is accepted at no
    threshold); coverage is relative to all images, so the curve ends at the share not refused.
    """
    kept = np.ones(len(confidence), bool) if refused is None else ~np.asarray(refused, bool)
    if not kept.any():
        return None
    coverage, error = risk_coverage(confidence[kept], correct[kept])
    coverage = coverage * (kept.sum() / len(confidence))
    ranked = np.sort(confidence[kept])[::-1]
    cuts = np.flatnonzero(np.r_[ranked[1:] < ranked[:-1], True])  # a threshold keeps all of equal confidence
    if len(cuts) > RISK_POINTS:
        cuts = cuts[np.unique(np.linspace(0, len(cuts) - 1, RISK_POINTS).round().astype(int))]
    return {"coverage": [float(coverage[i]) for i in cuts], "error": [float(error[i]) for i in cuts]}


def share(flags: Sequence[bool]) -> dict[str, Any]:
    """How many of ``flags`` are true, of how many, and the share (None of none)."""
    count = sum(bool(flag) for flag in flags)
    return {"images": len(flags), "flagged": count, "share": count / len(flags) if flags else None}


def per_class_shares(
    labels: Sequence[int], flags: Sequence[bool], class_names: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The share of each true class's images refused, in class order (a refusal may fall on one class)."""
    count = max([len(class_names or [])] + [label + 1 for label in labels])
    names = list(class_names or []) + [str(index) for index in range(len(class_names or []), count)]
    return [
        {"name": names[c], **share([flag for flag, label in zip(flags, labels) if label == c])} for c in range(count)
    ]


def ood_set_shares(
    ood_set: OodSet, flagged: Sequence[bool | None], unreadable: Sequence[dict[str, str]] | None = None
) -> dict[str, Any]:
    """The share refused per group, over the "ood" groups and over the "near" groups.

    An image that did not decode (flag None) is in no share; ``unreadable`` (the runner's path and
    reason for each) is kept as ``unreadable_images``, for the report and the exit status.
    """
    groups = []
    for name in ood_set.group_names:
        mine = [flag for flag, group in zip(flagged, ood_set.groups) if group == name]
        read = [flag for flag in mine if flag is not None]
        groups.append({"name": name, "kind": ood_set.kinds[name], **share(read), "unreadable": len(mine) - len(read)})
    return {
        "source": ood_set.source,
        "groups": groups,
        OOD: _aggregate([g for g in groups if g["kind"] == OOD]),
        NEAR: _aggregate([g for g in groups if g["kind"] == NEAR]),
        "unreadable_images": [{"path": str(u["path"]), "error": str(u["error"])} for u in unreadable or []],
    }


def _aggregate(groups: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not groups:
        return None
    images, flagged = sum(g["images"] for g in groups), sum(g["flagged"] for g in groups)
    return {"images": images, "flagged": flagged, "share": flagged / images if images else None}
