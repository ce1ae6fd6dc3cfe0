"""The data stage's bounds: the near-duplicate search in bounded memory, and no degenerate split in silence.

A class with fewer near-duplicate groups than splits cannot be in every split (a group is never
cut in two): left out of train or val, the split is refused, as training would refuse it; left out
of test, it is one warning line. An image under two classes (the same bytes, or near-duplicates)
is one warning line per case.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from data_images import base_image, make_dataset, near_duplicate, save
from PIL import Image

from brainedge.edge_runtime.manifest import read_manifest
from brainedge.train.data import cli
from brainedge.train.data.duplicates import Components, connected_groups, find_near_duplicates, near_pairs

ROOT = Path(__file__).resolve().parents[1]
PEAK_BOUND_MB = 500


def one_group(root: Path, label: str, size: int, seed: int) -> None:
    """``size`` near-duplicates of one picture under ``root/label``: a single group."""
    pixels = base_image(seed)
    save(pixels, root / label / f"g{seed}_base.png")
    for copy in range(1, size):
        save(near_duplicate(pixels, seed * 100 + copy), root / label / f"g{seed}_near_{copy:03d}.png")


def split(root: Path, out: Path, capsys: pytest.CaptureFixture[str], *options: str) -> tuple[int, list[str]]:
    """brainedge-data split's exit code and its standard error's lines."""
    code = cli.main(["split", str(root), "--out", str(out), "--quiet", *options])
    return code, capsys.readouterr().err.splitlines()


# ----------------------------------------------------------------------------------------------
# Degenerate splits


@pytest.mark.parametrize(
    "groups, options, refused_for",
    [
        (1, (), "val or test"),  # one group: train only
        (1, ("--test", "0"), "val"),  # ... also with two splits
        (2, ("--val", "0.3", "--test", "0.3"), None),  # two groups, three splits: train and val, no test
    ],
)
def test_a_class_of_fewer_groups_than_splits_is_refused_without_val_and_warned_of_without_test(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], groups: int, options: tuple[str, ...], refused_for: str | None
) -> None:
    root = make_dataset(tmp_path / "data", {"b": 6, "c": 6}, seed=1)
    for group in range(groups):
        one_group(root, "a", 4, seed=50 + group)
    out = tmp_path / "split.csv"
    code, err = split(root, out, capsys, *options)
    if refused_for:
        assert code == 2 and len(err) == 1, err
        assert err[0].startswith(f"error: {root}: class 'a' gets no {refused_for} images: its {4 * groups} images ")
        assert f"are {groups} near-duplicate group(s) at --threshold 5" in err[0] and "add distinct images" in err[0]
        assert not out.exists(), "a split training would refuse was written"
    else:
        assert code == 0, err
        assert [line for line in err if line.startswith("warning: ")] == [
            "warning: class 'a' gets no test images: its 8 images are 2 near-duplicate group(s) at --threshold 5, "
            "and a group is never cut in two; its test recall cannot be measured"
        ]
        splits = {row.split for row in read_manifest(out).rows if row.label == "a"}
        assert splits == {"train", "val"}  # what training needs


def test_a_class_of_as_many_groups_as_splits_splits_without_a_word(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The control: three groups of 'a' fill three splits, and nothing is said."""
    root = make_dataset(tmp_path / "data", {"a": 3, "b": 6}, duplicates={"a": 3})
    code, err = split(root, tmp_path / "split.csv", capsys)
    assert code == 0 and err == [], err


def test_a_kaggle_training_class_of_one_group_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With Testing/ kept as the test split, Training/ is split in two: one group cannot be in both."""
    root = tmp_path / "data"
    make_dataset(root / "Training", {"b": 6})
    one_group(root / "Training", "a", 5, seed=7)
    make_dataset(root / "Testing", {"a": 2, "b": 2}, seed=3)
    code, err = split(root, tmp_path / "split.csv", capsys)
    assert code == 2 and len(err) == 1 and "class 'a' gets no val images: its 5 images are 1 near" in err[0], err


def _copy_across(root: Path, count: int, near: bool) -> list[tuple[str, str]]:
    """``count`` of class a's images filed under b as well: the same bytes, or a near-duplicate of them."""
    pairs = []
    for index in range(count):
        source = root / "a" / f"img_{index:03d}.png"
        target = root / "b" / f"from_a_{index:03d}.png"
        if near:
            save(near_duplicate(np.asarray(Image.open(source)), index), target)
        else:
            shutil.copyfile(source, target)
        pairs.append((f"a/{source.name}", f"b/{target.name}"))
    return pairs


@pytest.mark.parametrize("near", [False, True], ids=["same bytes", "near-duplicate"])
@pytest.mark.parametrize("count", [1, 3, 12])
def test_an_image_under_two_classes_is_one_warning_line_per_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], near: bool, count: int
) -> None:
    root = make_dataset(tmp_path / "data", {"a": 14, "b": 14})
    pairs = _copy_across(root, count, near)
    code, err = split(root, tmp_path / "split.csv", capsys)
    assert code == 0, err
    warnings = [line for line in err if line.startswith("warning: ")]
    assert len(warnings) == len(err) == min(count, 10) + (count > 10), err
    what = "near-duplicates under classes 'a' and 'b'" if near else "the same image (identical bytes) is under classes"
    for first, second in pairs[:10]:
        assert any(f"{first}, {second}" in line and what in line for line in warnings), (first, warnings)
    if count > 10:
        assert warnings[-1] == (
            f"warning: and {count - 10} more image(s) under two classes; `brainedge-data audit` lists them"
        )


# ----------------------------------------------------------------------------------------------
# Bounded memory


def test_grouping_streamed_a_block_at_a_time_equals_grouping_all_pairs() -> None:
    """Components joined block by block (the audit's way) give the groups of all pairs at once (brute force)."""
    rng = np.random.default_rng(5)
    bases = rng.integers(0, 2**63, size=(40, 4), dtype=np.uint64)
    words = bases[rng.integers(0, 40, size=9000)]  # 9,000 hashes in 40 groups: tiles of many pairs
    flips = rng.integers(0, 64, size=len(words))
    words[:, 0] ^= np.uint64(1) << flips.astype(np.uint64)  # one bit off its group's base
    hashes = [row.tobytes() for row in words]
    kinds = rng.integers(0, 3, size=len(hashes))
    near = find_near_duplicates(hashes, kinds, threshold=2)
    pairs = near_pairs(hashes, threshold=2)
    assert near.pairs == len(pairs) > 9000 * 100
    assert near.cross_pairs == int((kinds[pairs[:, 0]] != kinds[pairs[:, 1]]).sum())
    parent = list(range(len(hashes)))  # plain union-find over every pair
    for first, second in pairs[:, :2].tolist():
        while parent[first] != first:
            first = parent[first]
        while parent[second] != second:
            second = parent[second]
        parent[max(first, second)] = min(first, second)
    roots = []
    for item in range(len(hashes)):
        while parent[item] != item:
            item = parent[item]
        roots.append(item)
    assert near.components.tolist() == roots == connected_groups(len(hashes), pairs).tolist()
    assert len(set(roots)) == 40


def test_components_join_chains_and_stars_across_blocks() -> None:
    components = Components(6)
    components.join(np.array([[4, 5, 0], [3, 4, 0]]))
    components.join(np.array([[0, 5, 0], [1, 5, 0], [2, 5, 0]]))  # one root proposed three links at once
    assert components.labels().tolist() == [0] * 6


MEASURE = r"""
import re, resource, sys
from pathlib import Path
from brainedge.train.data import cli

code = cli.main(["split", sys.argv[1], "--out", sys.argv[2], "--quiet", "--workers", "2"])
# Its own peak from VmHWM, not RUSAGE_SELF: Linux carries ru_maxrss across exec, so that would count the
# forked copy of the test process (a gigabyte once TensorFlow is loaded in it). Its hashing workers fork
# from this small process, so RUSAGE_CHILDREN is theirs.
own = int(re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1))
print(code, max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
"""


@pytest.mark.slow
def test_ten_thousand_near_identical_images_split_within_500_mb(tmp_path: Path) -> None:
    """50 M near-duplicate pairs (5.2 GB when they were kept): grouped as they are found, the split stays in bounds.

    The peak is measured in a fresh process (its own and its hashing workers' maximum resident set),
    so nothing this test process did before counts.
    """
    root = tmp_path / "data"
    pixels = base_image(11, size=32)
    for index in range(10_000):  # one pixel changed: other bytes, the same picture
        copy = pixels.copy()
        copy[31, 31], copy[31, 30] = index % 256, index // 256
        save(copy, root / ("a" if index % 2 else "b") / f"near_{index:05d}.png")
    make_dataset(root, {"a": 6, "b": 6}, seed=2)  # distinct images, so the split can be trained on
    out = tmp_path / "split.csv"
    done = subprocess.run([sys.executable, "-c", MEASURE, str(root), str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    code, peak_kib = map(int, done.stdout.splitlines()[-1].split())
    assert code == 0, done.stderr[-2000:]
    rows = read_manifest(out).rows
    near_rows = [row for row in rows if "near_" in row.path]
    assert len(rows) == 10_012 and len({row.group for row in near_rows}) == 1  # every pair was found and joined
    assert "near-duplicates under classes 'a' and 'b'" in done.stderr
    assert peak_kib < PEAK_BOUND_MB * 1024, f"peak {peak_kib / 1024:.0f} MB"
    print(f"peak {peak_kib / 1024:.0f} MB")
