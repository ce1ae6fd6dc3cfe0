"""Build a small training run whose class-activation maps can be checked, in its own process (TensorFlow).

Like tests/make_export_run.py (synthetic slices, a leak-free split, config.json in
brainedge-train's format, the head names export cuts at), but with a feature map fine enough to
point with. Measured while choosing it (pointing game on the tumour images of the test split,
a hit = the map's maximum within 15/224 of the image side of the lesion):

- make_export_run's model (64 px, three 'valid' stride-2 convolutions, 7x7 map): 77.8% of 27
  (benchmarks/studies/class_maps.py), gliomas 3 of 9; its cells also sit up to 4 px from where
  the map's upsampling puts them;
- four 'same' stride-2 convolutions at 64 px (16x16 map), 45 images, 4 px: 67-78% without batch
  norm (it barely told glioma from notumor), 80-87% with it, and unstable from epoch to epoch;
- the demo's MobileNetV2 0.35 at 96 px (3x3 map, 43 px cells): 41.5% of 135, meningiomas 0%;
- this one: 96 px, stride by 2x2 max pooling (cells line up exactly with the half-pixel
  upsampling, which TF's 'same' stride-2 padding shifts by 0.5 px per layer) and batch norm,
  24x24 map: 100% of 45 in the study (6.4 px), and 98% and 100% at 6 px with weight seeds 1 and
  2; test accuracy 0.97-1.00; 30-50 s on 2 cores.

usage: python tests/make_class_map_run.py WORK_DIR   → WORK_DIR/run (plus WORK_DIR/data, manifest.csv)
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

SIZE = 96
IMAGES_PER_CLASS = 100
SEED = 0
"""The synthetic data's seed (what the study's --synthetic-seed defaults to)."""
EPOCHS = 30
BLOCKS = ((16, False), (32, True), (48, False), (64, True), (64, False))
"""(filters, 2x2 max pooling before the convolution): stride 4 in all, a 24x24x64 feature map."""


def build_model(keras, num_classes: int):
    layers = [keras.layers.Input((SIZE, SIZE, 3), name="image")]
    for index, (filters, pool) in enumerate(BLOCKS, start=1):
        if pool:
            layers.append(keras.layers.MaxPooling2D(2, name=f"block_{index}_pool"))
        layers += [
            keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"block_{index}_conv"),
            keras.layers.BatchNormalization(name=f"block_{index}_bn"),
            keras.layers.ReLU(name=f"block_{index}_relu"),
        ]
    layers += [
        keras.layers.GlobalAveragePooling2D(name="head_pool"),  # the names export cuts the head at
        keras.layers.Dense(num_classes, activation="softmax", name="head_probabilities"),
    ]
    return keras.Sequential(layers)


def build_run(work: Path) -> Path:
    from brainedge.edge_runtime.manifest import read_manifest
    from brainedge.edge_runtime.metadata import InputSpec
    from brainedge.train.config import ModelConfig, TrainConfig
    from brainedge.train.data.split import make_split
    from brainedge.train.run_dir import RunDirectory
    from brainedge.train.synthetic import generate_dataset
    from brainedge.train.tf_setup import keras
    from brainedge.train.trainer import versions

    generate_dataset(work / "data", images_per_class=IMAGES_PER_CLASS, size=SIZE, seed=SEED)
    manifest_path = work / "manifest.csv"
    make_split(work / "data", manifest_path, seed=0, progress=False)
    manifest = read_manifest(manifest_path)
    run = work / "run"
    run_directory = RunDirectory(run)
    spec = InputSpec(height=SIZE, width=SIZE)
    config = TrainConfig(
        model=ModelConfig(num_classes=len(manifest.class_names()), input_size=SIZE, alpha=0.35, weights="none"),
        qat_epochs=0,
    )
    run_directory.write_config(
        {
            "train": config.to_dict(),
            "class_names": manifest.class_names(),
            "input": dataclasses.asdict(spec),
            "manifest": str(manifest_path.resolve()),
            "versions": versions(),
        }
    )
    train = _split_arrays(manifest, "train", spec)
    keras.utils.set_random_seed(0)
    model = build_model(keras, len(manifest.class_names()))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(*train, epochs=EPOCHS, batch_size=16, verbose=0)
    model.save(run_directory.float_model_path)
    return run


def _split_arrays(manifest, split: str, spec) -> tuple[np.ndarray, np.ndarray]:
    from brainedge.edge_runtime.preprocess import decode_rgb, to_input_tensor

    files = manifest.files(split)
    inputs = np.concatenate([to_input_tensor(decode_rgb(path), spec) for path, _ in files])
    return inputs, np.array([label for _, label in files])


if __name__ == "__main__":
    print(build_run(Path(sys.argv[1])))
