"""Build a tiny training run directory for the export tests, in its own process (TensorFlow).

Generated MRI-like slices (train.synthetic) at 64 px, a leak-free split (train.data.split),
a three-conv model trained to confident answers in seconds, a QAT copy fine-tuned for a few
epochs, and config.json in brainedge-train's format: everything brainedge-export reads.
A from-scratch MobileNetV2 would need minutes to stop answering near-ties, which would make
int8-vs-float agreement a coin toss rather than a test.

usage: python tests/make_export_run.py WORK_DIR   → WORK_DIR/run (plus WORK_DIR/data, manifest.csv)
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

SIZE = 64
IMAGES_PER_CLASS = 60
QAT_EPOCHS = 3


def prepare_run(work: Path, size: int, images_per_class: int, seed: int, qat_epochs: int):
    """Synthetic slices, a leak-free split and config.json in brainedge-train's format: a run directory
    waiting for its model. Returns it, the train split's (model inputs, labels) and the class names."""
    from brainedge.edge_runtime.manifest import read_manifest
    from brainedge.edge_runtime.metadata import InputSpec
    from brainedge.train.config import ModelConfig, TrainConfig
    from brainedge.train.data.split import make_split
    from brainedge.train.run_dir import RunDirectory
    from brainedge.train.synthetic import generate_dataset
    from brainedge.train.trainer import versions

    generate_dataset(work / "data", images_per_class=images_per_class, size=size, seed=seed)
    manifest_path = work / "manifest.csv"
    make_split(work / "data", manifest_path, seed=0, progress=False)
    manifest = read_manifest(manifest_path)
    run_directory = RunDirectory(work / "run")
    spec = InputSpec(height=size, width=size)
    config = TrainConfig(
        model=ModelConfig(num_classes=len(manifest.class_names()), input_size=size, alpha=0.35, weights="none"),
        qat_epochs=qat_epochs,
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
    return run_directory, _split_arrays(manifest, "train", spec), manifest.class_names()


def build_run(work: Path) -> Path:
    from brainedge.train.qat import quantize_for_training
    from brainedge.train.tf_setup import keras

    run_directory, train, class_names = prepare_run(work, SIZE, IMAGES_PER_CLASS, seed=0, qat_epochs=QAT_EPOCHS)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.layers.Input((SIZE, SIZE, 3), name="image"),
            keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
            keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
            keras.layers.Conv2D(64, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(name="head_pool"),  # the names export cuts the head at
            keras.layers.Dense(len(class_names), activation="softmax", name="head_probabilities"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(*train, epochs=40, batch_size=16, verbose=0)
    model.save(run_directory.float_model_path)
    qat = quantize_for_training(model)
    qat.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy")
    qat.fit(*train, epochs=QAT_EPOCHS, batch_size=16, verbose=0)
    qat.save(run_directory.qat_model_path)
    return run_directory.path


def _split_arrays(manifest, split: str, spec) -> tuple[np.ndarray, np.ndarray]:
    from brainedge.edge_runtime.preprocess import decode_rgb, to_input_tensor

    files = manifest.files(split)
    inputs = np.concatenate([to_input_tensor(decode_rgb(path), spec) for path, _ in files])
    return inputs, np.array([label for _, label in files])


if __name__ == "__main__":
    print(build_run(Path(sys.argv[1])))
