"""report.md's section on whether the answers can be taken at their word: calibration, referral and
out-of-distribution refusal per bundle, what each column means (``answer_columns.md``), and its two plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from brainedge.benchmarks.answers import NEAR, OOD
from brainedge.benchmarks.report.formatting import fmt, table
from brainedge.benchmarks.report.labels import answer_label, unreadable_ood_images
from brainedge.benchmarks.report.outputs import RELIABILITY_PNG, RISK_COVERAGE_PNG
from brainedge.benchmarks.rows import BenchRow

ANSWERS_HEADING = "## Answers you can take at their word"
ANSWER_COLUMNS = Path(__file__).with_name("answer_columns.md").read_text(encoding="utf-8")
"""What each column of the section's table means."""
OLDER_REFERRAL = "†"
"""Marks coverage and accepted accuracy from an older result file, where refused answers could be accepted."""


def answers_section(rows: Sequence[BenchRow], plots: Sequence[str]) -> list[str]:
    """The table of calibration, referral and refusal per bundle, what each column means, the refusals per
    OOD-set folder and per true class, and the two plots."""
    lines = []
    for r in rows:
        before, after = r.calibration_before or {}, r.calibration_after or {}
        referral = r.referral or {}
        ood_set = r.ood_set or {}
        lines.append(
            [
                answer_label(r, rows),
                fmt(r.temperature, 1, 3),
                *(_before_after(before.get(name), after.get(name)) for name in ("ece", "nll", "brier")),
                _threshold(referral),
                fmt(referral.get("coverage"), 100, 1) + (OLDER_REFERRAL if _older_referral(referral) else ""),
                fmt(referral.get("accuracy"), 100, 1) + (OLDER_REFERRAL if _older_referral(referral) else ""),
                _share(r.test_ood),
                _share(ood_set.get(OOD)),
                _share(ood_set.get(NEAR)),
                f"{fmt(r.head_ms, 1, 3)} / {fmt(r.ood_ms, 1, 3)}",
            ]
        )
    parts = [
        f"{ANSWERS_HEADING}\n",
        "Whether a bundle's probabilities mean what they say, which answers it refers for review, and which "
        "inputs it refuses as unlike its training images. Bundles without a head (schema 1) cannot say; "
        "they are not listed. Computed over the test images that decode.\n",
        table(
            (
                "bundle",
                "temperature",
                "ECE before → after",
                "NLL before → after",
                "Brier before → after",
                "referral threshold",
                "coverage %",
                "accepted accuracy %",
                "test flagged OOD %",
                "OOD set flagged % (ood)",
                "OOD set flagged % (near)",
                "head / OOD ms",
            ),
            lines,
        ),
        ANSWER_COLUMNS,
    ]
    if any(_older_referral(r.referral or {}) for r in rows):
        parts.append(
            f"{OLDER_REFERRAL} From a result file written before answers refused as out-of-distribution were kept "
            "out of the accepted ones: its coverage, accepted accuracy and risk-coverage curve count them as "
            "accepted when confident enough (run brainedge-bench again for the definition above).\n"
        )
    groups = [r for r in rows if r.ood_set]
    if groups:
        sources = {(r.ood_set or {})["source"] for r in groups}
        one_source = len(sources) == 1
        parts.append(
            (f"OOD set `{sources.pop()}`, " if one_source else "OOD sets, ") + "share refused per top-level folder:\n"
        )
        parts.append(
            "".join(
                f"- {answer_label(r, rows)}"
                + ("" if one_source else f" (`{(r.ood_set or {})['source']}`)")
                + f": {_groups(r.ood_set or {})}\n"
                for r in groups
            )
        )
        unreadable = unreadable_ood_images(groups)
        if unreadable:
            parts.append(
                f"{len(unreadable)} OOD-set image(s) could not be read: left out of every share above "
                "(listed under *Unreadable OOD-set images*).\n"
            )
    by_class = [r for r in rows if (r.test_ood or {}).get("per_class")]
    if by_class:
        parts.append("Test images refused as out-of-distribution, per true class (refused/images of that class):\n")
        parts.append(
            "".join(
                f"- {answer_label(r, rows)}: "
                + "; ".join(f"{c['name']} {_share(c, '%')}" for c in (r.test_ood or {})["per_class"])
                + "\n"
                for r in by_class
            )
        )
    titles = {
        RELIABILITY_PNG: "Reliability diagram per bundle, before and after calibration",
        RISK_COVERAGE_PNG: "Error rate against coverage per bundle, referral threshold marked",
    }
    parts += [f"![{titles[name]}]({name})\n" for name in plots if name in titles]
    return parts


def _older_referral(referral: dict[str, Any]) -> bool:
    """A referral record written before ``refused`` was: its accepted answers may include refused ones."""
    return bool(referral) and "refused" not in referral


def _before_after(before: float | None, after: float | None) -> str:
    return "–" if before is None and after is None else f"{fmt(before, 1, 3)} → {fmt(after, 1, 3)}"


def _threshold(referral: dict[str, Any]) -> str:
    if not referral:
        return "–"
    target = referral.get("target_accuracy")
    shown = fmt(referral.get("threshold"), 1, 3)
    return f"{shown} (target {fmt(target, 100, 1)}%)" if target is not None else f"{shown} (no target)"


def _share(counted: dict[str, Any] | None, unit: str = "") -> str:
    if not counted or counted.get("share") is None:
        return "–"
    return f"{fmt(counted['share'], 100, 1)}{unit} ({counted['flagged']}/{counted['images']})"


def _groups(ood_set: dict[str, Any]) -> str:
    described = []
    for group in ood_set["groups"]:
        kind = group["kind"] or "not in sources.json"
        unreadable = f", {group['unreadable']} unreadable" if group["unreadable"] else ""
        described.append(f"`{group['name']}/` ({kind}) {_share(group, '%')}{unreadable}")
    return "; ".join(described)
