"""Finding a dataset's images: layouts, class mappings and the clear errors for bad folders."""

from __future__ import annotations

import json

import pytest
from data_images import base_image, make_dataset, save

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.train.data.loading import binary_mapping, load_dataset, load_roots, read_mapping


def test_class_per_folder(tmp_path):
    root = make_dataset(tmp_path / "ds", {"a": 3, "b": 4})
    (root / "a" / "notes.txt").write_text("scanner settings")
    (root / "a" / ".DS_Store").write_bytes(b"\0")
    save(base_image(99), root / "b" / "sub" / "deep.png")
    dataset = load_dataset(root)
    assert dataset.parts == ("ds",)
    assert dataset.test_part is None
    assert dict(dataset.class_counts()) == {"a": 3, "b": 5}
    assert "b/sub/deep.png" in [image.rel for image in dataset.images]
    assert [path for path, _ in dataset.skipped] == ["a/notes.txt"]


def test_kaggle_layout_has_two_parts_and_a_test_part(tmp_path):
    make_dataset(tmp_path / "kaggle" / "Training", {"a": 3, "b": 3})
    make_dataset(tmp_path / "kaggle" / "Testing", {"a": 1, "b": 2}, seed=1)
    dataset = load_dataset(tmp_path / "kaggle")
    assert dataset.parts == ("Training", "Testing")
    assert dataset.test_part == "Testing"
    assert dict(dataset.class_counts("Testing")) == {"a": 1, "b": 2}
    assert "Training/a/img_000.png" in [image.rel for image in dataset.images]


def test_class_folders_or_images_beside_kaggle_parts_are_refused_not_left_out(tmp_path):
    root = tmp_path / "kaggle"
    make_dataset(root / "Training", {"a": 3, "b": 3})
    make_dataset(root / "Testing", {"a": 1, "b": 2}, seed=1)
    (root / "README.md").write_text("from Kaggle")  # not an image: nothing of the dataset
    assert load_dataset(root).parts == ("Training", "Testing")
    make_dataset(root / "c", {"x": 2}, seed=2)
    save(base_image(7), root / "loose.png")
    with pytest.raises(
        BrainEdgeError, match=r"kaggle: has Training/ and Testing/, which are read, and also c/, loose.png"
    ):
        load_dataset(root)


def test_several_roots_are_parts_named_from_their_common_parent(tmp_path):
    make_dataset(tmp_path / "one", {"a": 3, "b": 3})
    make_dataset(tmp_path / "two", {"a": 3, "b": 3}, seed=1)
    dataset = load_roots([tmp_path / "one", tmp_path / "two"])
    assert dataset.parts == ("one", "two")
    assert {image.rel.split("/")[0] for image in dataset.images} == {"one", "two"}


def test_binary_mapping(tmp_path):
    root = make_dataset(tmp_path / "ds", {"glioma": 3, "meningioma": 3, "notumor": 4})
    dataset = load_dataset(root, binary_mapping("notumor"))
    assert dict(dataset.class_counts()) == {"notumor": 4, "tumor": 6}
    with pytest.raises(BrainEdgeError, match="'no_tumour', not a class folder"):
        load_dataset(root, binary_mapping("no_tumour"))


def test_mapping_files(tmp_path):
    root = make_dataset(tmp_path / "ds", {"glioma": 3, "meningioma": 3, "notumor": 4})
    csv_file = tmp_path / "map.csv"
    csv_file.write_text("# merge the tumours\nglioma, tumor\nmeningioma,tumor\n")
    json_file = tmp_path / "map.json"
    json_file.write_text(json.dumps({"notumor": "healthy", "*": "tumor"}))
    assert dict(load_dataset(root, read_mapping(csv_file)).class_counts()) == {"notumor": 4, "tumor": 6}
    assert dict(load_dataset(root, read_mapping(json_file)).class_counts()) == {"healthy": 4, "tumor": 6}
    bad = tmp_path / "bad.csv"
    bad.write_text("glioma tumor\n")
    with pytest.raises(BrainEdgeError, match=r"bad.csv:1: expected 'source,target'"):
        read_mapping(bad)


def test_missing_path(tmp_path):
    with pytest.raises(BrainEdgeError, match="nowhere: no such directory"):
        load_dataset(tmp_path / "nowhere")


def test_file_instead_of_folder(tmp_path):
    path = save(base_image(0), tmp_path / "one.png")
    with pytest.raises(BrainEdgeError, match="one.png: not a directory"):
        load_dataset(path)


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BrainEdgeError, match="empty: empty folder"):
        load_dataset(tmp_path / "empty")


def test_images_without_class_folders(tmp_path):
    save(base_image(0), tmp_path / "flat" / "x.png")
    with pytest.raises(BrainEdgeError, match="flat: has images but no class folders"):
        load_dataset(tmp_path / "flat")


def test_class_folders_without_images(tmp_path):
    (tmp_path / "ds" / "a").mkdir(parents=True)
    (tmp_path / "ds" / "a" / "readme.txt").write_text("x")
    with pytest.raises(BrainEdgeError, match="ds: no images in its class folders"):
        load_dataset(tmp_path / "ds")


def test_half_a_kaggle_layout_is_refused_before_any_image_is_read(tmp_path):
    make_dataset(tmp_path / "kaggle" / "Training", {"a": 1, "b": 2})
    with pytest.raises(
        BrainEdgeError,
        match=r"kaggle: has Training/ but not both Training/ and Testing/.*give .*kaggle/Training itself",
    ):
        load_dataset(tmp_path / "kaggle")
    assert load_dataset(tmp_path / "kaggle" / "Training").class_counts() == {"a": 1, "b": 2}
