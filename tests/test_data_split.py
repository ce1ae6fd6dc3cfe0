"""Leak-free splits: groups stay whole, splits are stratified and seeded, bad input is refused clearly."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from data_images import base_image, make_dataset, near_duplicate, save

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.manifest import class_weights, read_manifest
from brainedge.train.data import cli
from brainedge.train.data.loading import binary_mapping
from brainedge.train.data.split import assign_splits, check_fractions, make_split


def test_assign_splits_keeps_groups_whole_and_stratifies():
    rng = np.random.default_rng(3)
    labels, groups = [], []
    for group in range(600):
        size = int(rng.choice([1, 1, 1, 1, 2, 3, 8]))
        label = str(rng.choice(["x", "y", "z"], p=[0.5, 0.3, 0.2]))
        labels += [label] * size
        groups += [f"g{group}"] * size
    splits = assign_splits(labels, groups, check_fractions(0.15, 0.15), seed=0)
    by_group: dict[str, set[str]] = {}
    for group, split in zip(groups, splits):
        by_group.setdefault(group, set()).add(split)
    assert all(len(split_set) == 1 for split_set in by_group.values())
    for label, total in Counter(labels).items():
        counts = Counter(split for lab, split in zip(labels, splits) if lab == label)
        for split, fraction in (("train", 0.7), ("val", 0.15), ("test", 0.15)):
            assert abs(counts[split] - fraction * total) <= 2, (label, split, counts)


def test_assign_splits_gives_every_held_out_split_each_class():
    splits = assign_splits(["a", "a", "a", "b", "b", "b"], list("uvwxyz"), check_fractions(0.15, 0.15))
    assert sorted(splits) == sorted(["train", "val", "test"] * 2)


@pytest.mark.parametrize("val, test", [(0.5, 0.5), (-0.1, 0.2), (1.0, 0.0)])
def test_impossible_fractions(val, test):
    with pytest.raises(BrainEdgeError, match="must each be in"):
        check_fractions(val, test)


@pytest.fixture
def dataset(tmp_path):
    return make_dataset(tmp_path / "ds", {"a": 12, "b": 10, "c": 8}, duplicates={"a": 5, "b": 4, "c": 3})


def test_near_duplicates_share_a_split(dataset, tmp_path):
    manifest = make_split(dataset, tmp_path / "split.csv", progress=False)
    rows = {row.path: row for row in manifest.rows}
    assert len(rows) == 30 + 12
    for dup in [path for path in rows if "/dup_" in path]:
        original = rows[dup.replace("dup_", "img_")]
        assert (rows[dup].split, rows[dup].group) == (original.split, original.group)
    assert len({row.group for row in manifest.rows}) == 30
    assert {row.split for row in manifest.rows} == {"train", "val", "test"}
    assert not any(row.leaked for row in manifest.rows)
    for label in ("a", "b", "c"):
        assert {row.split for row in manifest.rows if row.label == label} == {"train", "val", "test"}


def test_same_seed_same_bytes_other_seed_other_split(dataset, tmp_path):
    make_split(dataset, tmp_path / "one.csv", seed=7, progress=False)
    make_split(dataset, tmp_path / "two.csv", seed=7, progress=False)
    make_split(dataset, tmp_path / "three.csv", seed=8, progress=False)
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    assert (tmp_path / "one.csv").read_bytes() != (tmp_path / "three.csv").read_bytes()


def test_manifest_reads_back_and_weights(dataset, tmp_path):
    written = make_split(dataset, tmp_path / "out" / "split.csv", progress=False)
    manifest = read_manifest(tmp_path / "out" / "split.csv")
    assert manifest.rows == written.rows
    assert all(path.is_file() for path, _ in manifest.files("train"))
    train = Counter(row.label for row in manifest.split("train"))
    expected = {i: sum(train.values()) / (3 * train[name]) for i, name in enumerate(["a", "b", "c"])}
    assert class_weights(manifest) == pytest.approx(expected)


def test_unreadable_files_are_listed_and_excluded(dataset, tmp_path, capsys):
    (dataset / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    manifest = make_split(dataset, tmp_path / "split.csv", progress=False)
    assert "a/broken.jpg" not in {row.path for row in manifest.rows}
    assert "warning: excluded a/broken.jpg: corrupt or truncated" in capsys.readouterr().err


def test_binary_split(dataset, tmp_path):
    manifest = make_split(dataset, tmp_path / "split.csv", mapping=binary_mapping("c", "other"), progress=False)
    assert manifest.class_names() == ["c", "other"]
    assert Counter(row.label for row in manifest.rows) == {"other": 31, "c": 11}


def test_class_with_too_few_images(tmp_path):
    root = make_dataset(tmp_path / "ds", {"a": 5, "b": 2})
    with pytest.raises(BrainEdgeError, match=r"ds: class 'b' has 2 readable image\(s\); need at least 3"):
        make_split(root, tmp_path / "split.csv", progress=False)


def test_class_too_small_once_unreadable_files_are_dropped(tmp_path):
    root = make_dataset(tmp_path / "ds", {"a": 5, "b": 2})
    (root / "b" / "bad.png").write_text("not a png")
    with pytest.raises(BrainEdgeError, match="class 'b' has 2 readable"):
        make_split(root, tmp_path / "split.csv", progress=False)


def test_empty_class_folder(tmp_path):
    root = make_dataset(tmp_path / "ds", {"a": 5, "b": 5})
    (root / "c").mkdir()
    with pytest.raises(BrainEdgeError, match="class 'c' has 0 readable"):
        make_split(root, tmp_path / "split.csv", progress=False)


def test_one_class(tmp_path):
    root = make_dataset(tmp_path / "ds", {"only": 9})
    with pytest.raises(BrainEdgeError, match=r"ds: only one class \(only\)"):
        make_split(root, tmp_path / "split.csv", progress=False)


@pytest.fixture
def kaggle(tmp_path):
    """Training/ + Testing/, where Testing holds one byte copy and one near-duplicate of Training images."""
    root = tmp_path / "kaggle"
    make_dataset(root / "Training", {"a": 8, "b": 8})
    make_dataset(root / "Testing", {"a": 3, "b": 3}, seed=1)
    shutil.copy(root / "Training" / "b" / "img_002.png", root / "Testing" / "b" / "copy.png")
    save(near_duplicate(base_image(0), 1), root / "Testing" / "a" / "near.png")  # Training/a/img_000
    return root


def test_kaggle_testing_is_kept_and_leaks_are_flagged(kaggle, tmp_path):
    manifest = make_split(kaggle, tmp_path / "split.csv", progress=False)
    test = {row.path: row for row in manifest.split("test")}
    assert set(test) == {row.path for row in manifest.rows if row.path.startswith("Testing/")}
    assert {path for path, row in test.items() if row.leaked} == {"Testing/b/copy.png", "Testing/a/near.png"}
    assert {row.split for row in manifest.rows if row.path.startswith("Training/")} == {"train", "val"}
    rows = {row.path: row for row in manifest.rows}
    assert rows["Testing/a/near.png"].group == rows["Training/a/img_000.png"].group
    assert len(manifest.files("test", include_leaked=False)) == len(test) - 2


def test_a_class_missing_from_kaggle_testing_is_refused_not_left_untested(kaggle, tmp_path):
    shutil.rmtree(kaggle / "Testing" / "b")
    untested = r"Testing: class 'b' has no readable image there, so it would not be tested"
    with pytest.raises(BrainEdgeError, match=untested):
        make_split(kaggle, tmp_path / "split.csv", progress=False)
    assert not (tmp_path / "split.csv").exists()
    pooled = make_split(kaggle, tmp_path / "split.csv", keep_test=False, progress=False)
    assert {row.label for row in pooled.split("test")} == {"a", "b"}


def test_kaggle_pooled_split_has_no_leaks(kaggle, tmp_path):
    manifest = make_split(kaggle, tmp_path / "split.csv", keep_test=False, progress=False)
    rows = {row.path: row for row in manifest.rows}
    assert rows["Testing/b/copy.png"].split == rows["Training/b/img_002.png"].split
    assert not any(row.leaked for row in manifest.rows)
    assert any(row.split == "test" and row.path.startswith("Training/") for row in manifest.rows)


def test_cli_split_and_weights(dataset, tmp_path, capsys):
    out = tmp_path / "split.csv"
    assert cli.main(["split", str(dataset), "--out", str(out), "--binary", "a", "--positive", "bc", "--quiet"]) == 0
    assert f"wrote {out}: train" in capsys.readouterr().out
    assert cli.main(["weights", str(out)]) == 0
    assert set(capsys.readouterr().out.split('"')[1::2]) == {"a", "bc"}
    assert cli.main(["audit", "--manifest", str(out), "--out", str(tmp_path / "r"), "--quiet", "--fail-on-leak"]) == 0
    assert cli.main(["split", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "nope: no such directory" in capsys.readouterr().err


def test_outputs_replace_only_earlier_outputs_of_their_kind(dataset, tmp_path, capsys):
    mine = tmp_path / "mine.csv"
    mine.write_text("my,own,csv\n")
    assert cli.main(["split", str(dataset), "--out", str(mine), "--quiet"]) == 2
    assert "mine.csv: exists and is not a BrainEdge manifest" in capsys.readouterr().err
    assert mine.read_text() == "my,own,csv\n"
    out = tmp_path / "split.csv"
    assert cli.main(["split", str(dataset), "--out", str(out), "--quiet"]) == 0
    assert cli.main(["split", str(dataset), "--out", str(out), "--quiet", "--seed", "1"]) == 0  # a manifest: replaced
    report = tmp_path / "report"
    report.mkdir()
    (report / "notes.txt").write_text("mine")
    assert cli.main(["audit", "--manifest", str(out), "--out", str(report), "--quiet"]) == 2
    assert "report: already holds other files (notes.txt)" in capsys.readouterr().err
    assert sorted(p.name for p in report.iterdir()) == ["notes.txt"]
    (report / "notes.txt").rename(report / "report.md")  # the user's file, under one of audit's names
    assert cli.main(["audit", "--manifest", str(out), "--out", str(report), "--quiet"]) == 2
    assert "holds report.md but not this command's audit.json" in capsys.readouterr().err
    (report / "report.md").unlink()
    (report / "class_balance.png").mkdir()  # refused before the audit, not after it replaced audit.json
    assert cli.main(["audit", "--manifest", str(out), "--out", str(report), "--quiet"]) == 2
    assert "class_balance.png: not a regular file, which would be replaced" in capsys.readouterr().err
    (report / "class_balance.png").rmdir()
    fifo, link = tmp_path / "fifo.csv", tmp_path / "link.csv"
    os.mkfifo(fifo)
    link.symlink_to(out)
    for special in (fifo, link):
        assert cli.main(["split", str(dataset), "--out", str(special), "--quiet"]) == 2
        assert "not a regular file, which would be replaced" in capsys.readouterr().err
    assert link.is_symlink() and fifo.is_fifo()
    assert cli.main(["audit", "--manifest", str(out), "--out", str(report), "--quiet"]) == 0
    assert cli.main(["audit", "--manifest", str(out), "--out", str(report), "--quiet"]) == 0  # its own: rerun


def test_an_output_that_cannot_be_read_is_refused_in_one_line(dataset, tmp_path, capsys, monkeypatch):
    """Whether a file is an earlier output is read from its start; a file that cannot be read (another
    user's, root here, so the denial is simulated) is named, not a traceback."""
    out = tmp_path / "split.csv"
    out.write_text("someone else's\n")
    real_open = Path.open

    def denied(self: Path, *args, **kwargs):
        if self == out:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)
    assert cli.main(["split", str(dataset), "--out", str(out), "--quiet"]) == 2
    assert "split.csv: cannot read it (Permission denied) to tell whether an earlier run wrote it" in (
        capsys.readouterr().err
    )


def test_a_leak_audit_proves_nothing_about_images_it_could_not_read(dataset, tmp_path, capsys):
    out = tmp_path / "split.csv"
    assert cli.main(["split", str(dataset), "--out", str(out), "--quiet"]) == 0
    audit = ["audit", "--manifest", str(out), "--out", str(tmp_path / "r"), "--quiet", "--fail-on-leak"]
    first = sorted(path for path in dataset.rglob("*.png"))[0]
    first.write_bytes(b"not a png")  # one image unreadable: its leaks cannot be checked
    capsys.readouterr()
    assert cli.main(audit) == 1
    assert "1 image(s) could not be read, so the split is not proven leak-free" in capsys.readouterr().err
    dataset.rename(tmp_path / "moved")  # every image missing: refused before auditing an empty dataset
    assert cli.main(audit) == 2
    err = capsys.readouterr().err
    assert f"{out}: 42 of its 42 images are not under {dataset}" in err and err.count("\n") == 1
    assert cli.main(["audit", "--manifest", str(out / "x"), "--out", str(tmp_path / "r")]) == 2
    assert "split.csv/x: cannot read manifest (Not a directory)" in capsys.readouterr().err
