"""Acceptance on the real Kaggle MRI training folder: a split made by the tool re-audits leak-free.

Needs ../shared (CI has it; a user's clone does not, and then these tests skip).
Takes two passes over 5,708 images (split, then an independent re-audit): about a minute.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from brainedge.edge_runtime.manifest import read_manifest
from brainedge.train.data.audit import manifest_dataset, run_audit, summarize
from brainedge.train.data.split import make_split

TRAINING = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "brain-tumor-mri" / "Training"
MEASURED_NEAR_DUPLICATE_IMAGES = 1061
"""From ../shared/README.md: images with a near-duplicate (16x16 dhash, distance <= 5)."""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not TRAINING.is_dir(),
        reason=f"real MRI data not found at {TRAINING} (../shared is only in developer checkouts and CI)",
    ),
]


@pytest.fixture(scope="module")
def reaudit(tmp_path_factory):
    out = tmp_path_factory.mktemp("real") / "split.csv"
    make_split(TRAINING, out, seed=0, progress=False)
    manifest = read_manifest(out)
    audit = run_audit(manifest_dataset(manifest), progress=False)
    return manifest, audit, summarize(audit)


def test_split_has_no_cross_split_near_duplicates(reaudit):
    manifest, _, facts = reaudit
    near = facts["near_duplicates"]
    assert facts["readable_images"] == len(manifest.rows) == 5708
    assert abs(near["images"] - MEASURED_NEAR_DUPLICATE_IMAGES) <= 0.05 * MEASURED_NEAR_DUPLICATE_IMAGES
    assert near["cross_part_pairs"] == 0
    assert near["cross_part_groups"] == 0


def test_a_random_split_of_the_same_images_would_leak(reaudit):
    """The control: the audit does see leaks when a split ignores the groups."""
    _, audit, _ = reaudit
    random_split = np.random.default_rng(0).choice(3, size=len(audit.infos), p=[0.7, 0.15, 0.15])
    crossing = sum(int((random_split[b[:, 0]] != random_split[b[:, 1]]).sum()) for b in audit.pair_blocks())
    assert crossing > 100


def test_split_is_stratified(reaudit):
    manifest, _, _ = reaudit
    totals = Counter(row.label for row in manifest.rows)
    for split, fraction in (("train", 0.7), ("val", 0.15), ("test", 0.15)):
        counts = Counter(row.label for row in manifest.split(split))
        for label, total in totals.items():
            assert abs(counts[label] / total - fraction) < 0.01, (split, label, counts[label], total)
