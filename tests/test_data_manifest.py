"""The split manifest every stage reads: round trip, byte-stable output, class weights, bad files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.manifest import Manifest, ManifestRow, class_weights, read_manifest, write_manifest


def row(path: str, label: str, split: str = "train", leaked: bool = False) -> ManifestRow:
    return ManifestRow(
        path=path, label=label, split=split, group=path[-8:], sha256="ab" * 32, width=224, height=200, leaked=leaked
    )


def sample(root: Path) -> Manifest:
    return Manifest(
        root=root,
        rows=[
            row("tumor/b.jpg", "tumor"),
            row("notumor/a.jpg", "notumor"),
            row("tumor/c,comma.jpg", "tumor"),
            row("tumor/d.jpg", "tumor", "val"),
            row("notumor/e.jpg", "notumor", "test", leaked=True),
        ],
    )


def test_round_trip_from_another_working_directory(tmp_path, monkeypatch):
    data = tmp_path / "data"
    path = tmp_path / "splits" / "split.csv"
    write_manifest(path, sample(data))
    monkeypatch.chdir(tmp_path / "splits")
    read = read_manifest(Path("split.csv"))
    assert Path(read.root).resolve() == data.resolve()
    assert sorted(read.rows, key=lambda r: r.path) == sorted(sample(data).rows, key=lambda r: r.path)
    assert path.read_text().splitlines()[0] == "# root: ../data"


def test_write_is_sorted_and_byte_identical(tmp_path):
    manifest = sample(tmp_path)
    shuffled = Manifest(root=tmp_path, rows=list(reversed(manifest.rows)))
    write_manifest(tmp_path / "a.csv", manifest)
    write_manifest(tmp_path / "b.csv", shuffled)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    paths = [record[0] for record in csv.reader((tmp_path / "a.csv").read_text().splitlines()[2:])]
    assert paths == sorted(paths)


def test_splits_files_and_class_names(tmp_path):
    manifest = sample(tmp_path)
    assert manifest.class_names() == ["notumor", "tumor"]
    assert [r.path for r in manifest.split("val")] == ["tumor/d.jpg"]
    assert manifest.files("test", include_leaked=True) == [(tmp_path / "notumor/e.jpg", 0)]
    assert manifest.files("test") == []  # the safe default: a leaked test image counts only when asked for
    assert sorted(manifest.files("train")) == sorted(
        [(tmp_path / "tumor/b.jpg", 1), (tmp_path / "notumor/a.jpg", 0), (tmp_path / "tumor/c,comma.jpg", 1)]
    )
    with pytest.raises(BrainEdgeError, match="unknown split"):
        manifest.split("training")


def test_class_weights_are_balanced(tmp_path):
    # train: 1 notumor, 2 tumor -> N=3, C=2: w = 3 / (2 * n_c)
    assert class_weights(sample(tmp_path)) == pytest.approx({0: 1.5, 1: 0.75})
    with pytest.raises(BrainEdgeError, match="val split has no images of notumor"):
        class_weights(sample(tmp_path), "val")
    # train and val (--refit): 1 notumor, 3 tumor
    assert class_weights(sample(tmp_path), "train", "val") == pytest.approx({0: 2.0, 1: 2 / 3})


@pytest.mark.parametrize(
    "text, message",
    [
        ("path,label\n", "not a BrainEdge manifest"),
        ("# root: .\npath,label,split\n", "bad header"),
        (
            "# root: .\npath,label,split,group,sha256,width,height,leaked\na.jpg,x,training,g,s,1,1,false\n",
            ":3: split must be one of",
        ),
        (
            "# root: .\npath,label,split,group,sha256,width,height,leaked\na.jpg,x,train,g,s,wide,1,false\n",
            "width and height must be integers",
        ),
        (
            "# root: .\npath,label,split,group,sha256,width,height,leaked\na.jpg,x,train,g,s,1,1,yes\n",
            "leaked must be true or false",
        ),
        (
            "# root: .\n# a comment\npath,label,split,group,sha256,width,height,leaked\na.jpg,x,train,g\n",
            ":4: expected 8 columns",
        ),
    ],
)
def test_bad_manifests_name_the_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(BrainEdgeError, match=message) as error:
        read_manifest(path)
    assert str(path) in str(error.value)


def test_missing_manifest(tmp_path):
    with pytest.raises(BrainEdgeError, match="no such manifest file"):
        read_manifest(tmp_path / "nope.csv")
