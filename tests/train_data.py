"""A tiny training set for the training tests and the recipe study's: generated slices split leak-free,
LEAKED test images flagged by hand, and random 'pretrained' weights for a tiny backbone."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from brainedge.edge_runtime.manifest import Manifest, read_manifest, write_manifest
from brainedge.train.data.split import make_split
from brainedge.train.synthetic import generate_dataset

TINY = ["--alpha", "0.35", "--input-size", "32", "--batch-size", "8"]
"""brainedge-train options of a MobileNetV2 small enough to train in seconds."""
LEAKED = 2
"""Test images flagged as near-duplicates of training images by hand: training reads the flag, not the pixels."""


def make_training_data(root: Path) -> Path:
    """``root/images``, ``root/manifest.csv`` (with LEAKED test images flagged) and ``root/backbone.h5``."""
    from brainedge.train.tf_setup import keras

    generate_dataset(root / "images", images_per_class=16, size=48, seed=0)
    make_split(root / "images", root / "manifest.csv", progress=False)
    manifest = read_manifest(root / "manifest.csv")
    flagged = {row.path for row in manifest.split("test")[:LEAKED]}
    rows = [replace(row, leaked=row.path in flagged) for row in manifest.rows]
    write_manifest(root / "manifest.csv", Manifest(root=manifest.root, rows=rows))
    backbone = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None)
    backbone.save_weights(root / "backbone.h5")
    return root
