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
