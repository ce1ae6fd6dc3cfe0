"""Build a small training run whose class-activation maps can be checked, in its own process (TensorFlow).

Like tests/make_export_run.py (synthetic slices, a leak-free split, config.json in
brainedge-train's format, the head names export cuts at), but with a feature map fine enough to
point with: 24x24, its cells lined up with the half-pixel upsampling by max pooling instead of
strided convolutions. Why this model, and what the alternatives (brainedge-demo's MobileNetV2
among them) scored: benchmarks/results/class_maps_models.md.

usage: python tests/make_class_map_run.py WORK_DIR   → WORK_DIR/run (plus WORK_DIR/data, manifest.csv)
"""

from __future__ import annotations

import sys
from pathlib import Path

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
    from make_export_run import prepare_run

    from brainedge.train.tf_setup import keras

    run_directory, train, class_names = prepare_run(work, SIZE, IMAGES_PER_CLASS, seed=SEED, qat_epochs=0)
    keras.utils.set_random_seed(0)
    model = build_model(keras, len(class_names))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(*train, epochs=EPOCHS, batch_size=16, verbose=0)
    model.save(run_directory.float_model_path)
    return run_directory.path


if __name__ == "__main__":
    print(build_run(Path(sys.argv[1])))
