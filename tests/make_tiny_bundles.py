"""Build the tiny test bundles (float32 and int8, with and without a head) and images they classify.

A two-conv tf_keras model learns three colour classes from generated 32x32 images in a
few seconds, so its answers are confident (no near-ties that could flip between
machines). The output is committed as tests/data/tiny_bundles, so the runtime's tests need
no TensorFlow (a Raspberry Pi's environment has none); this script regenerates it, and
tests/test_tiny_bundles.py checks that it still gives the same bytes. Runs in its own
process because it imports TensorFlow.

Deterministic: fixed seeds, TensorFlow's op determinism, oneDNN off and a fixed
``exported_at``. The bytes are the same again with the same TensorFlow, tf2onnx and LiteRT
versions on the same kind of CPU; another TensorFlow writes its version into the model files
and may round the trained weights differently (then regenerate and commit the result).

usage: python tests/make_tiny_bundles.py OUT_DIR
       → OUT_DIR/float32/, OUT_DIR/int8/ (bundles whose model outputs class probabilities, as
         schema 1 bundles and third-party models do), OUT_DIR/float32_head/, OUT_DIR/int8_head/
         (export's way: the model ends in its feature map; head file with temperature and an
         out-of-distribution model fitted on generated images), OUT_DIR/onnx_float32/ (the float32
         model through tf2onnx: the same weights under two interpreters), OUT_DIR/images/<class>/*.png
Regenerate the committed copy: python tests/make_tiny_bundles.py tests/data/tiny_bundles
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from brainedge.edge_runtime.metadata import InputSpec
from brainedge.export.bundle import write_bundle as write_exported_bundle

COMMITTED = Path(__file__).resolve().parent / "data" / "tiny_bundles"
"""The committed output, which the ``bundles`` fixture hands to tests."""
EXPORTED_AT = "2000-01-01T00:00:00+00:00"
"""Fixed so that a rebuild gives the same metadata.json (export writes the current time)."""
CLASSES = ["red", "green", "blue"]
SIZE = 32
IMAGES_PER_CLASS = 4


def colour_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy images whose brightest channel is the class: uint8 NHWC and integer labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), count)
    images = rng.integers(0, 110, (count, SIZE, SIZE, 3))
    for image, label in zip(images, labels):
        image[..., label] += 140
    return images.astype(np.uint8), labels


def train_model(tf, keras):
    images, labels = colour_images(384, seed=0)
    model = keras.Sequential(
        [
            keras.layers.Input((SIZE, SIZE, 3)),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(name="head_pool"),  # where export cuts the head off
            keras.layers.Dense(len(CLASSES), activation="softmax", name="head_probabilities"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(normalize(images), labels, epochs=8, batch_size=32, verbose=0)
    return model


def normalize(images: np.ndarray) -> np.ndarray:
    """The bundle contract's MobileNet scaling, (x - 127.5) / 127.5."""
    return (images.astype(np.float32) - 127.5) / 127.5


def convert(tf, model, int8: bool) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        calibration = normalize(colour_images(64, seed=1)[0])
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    return converter.convert()


def write_bundle(
    directory: Path,
    model_bytes: bytes,
    variant: str,
    class_names: list[str] = CLASSES,
    size: int = SIZE,
    model_format: str | None = None,
) -> Path:
    """A test bundle written by export's own writer: tensor specs read back from the model."""
    bundle = write_exported_bundle(
        directory,
        model_bytes,
        variant,
        class_names,
        InputSpec(height=size, width=size),
        {"source": "tests (colour toy model, not a medical model)"},
        model_format,
    )
    bundle.with_metadata(provenance={**bundle.metadata.provenance, "exported_at": EXPORTED_AT})
    return directory


def write_head_bundle(directory: Path, tf, model, int8: bool) -> Path:
    """A bundle as export writes one: feature-map model, head file, temperature and OOD model fitted here."""
    from brainedge.edge_runtime.bundle import Bundle
    from brainedge.edge_runtime.engine import Engine
    from brainedge.edge_runtime.tensors import tensors_to_bytes
    from brainedge.export.head import feature_map_model, head_of
    from brainedge.export.qualify import SplitOutputs, qualify

    variant = "tflite_int8_ptq" if int8 else "tflite_float32"
    bundle = Bundle.open(write_bundle(directory, convert(tf, feature_map_model(model), int8), variant))
    head, weights = head_of(model)
    bundle = bundle.with_head(head, tensors_to_bytes(weights))
    classifier = Engine.from_bundle(bundle)

    def answers(count: int, seed: int) -> SplitOutputs:
        images, labels = colour_images(count, seed)
        outputs = [classifier.run(classifier.preprocess(image), calibrated=False) for image in images]
        return SplitOutputs(
            np.concatenate([o.logits for o in outputs]), np.concatenate([o.features for o in outputs]), labels
        )

    fitted = qualify(answers(192, seed=3), answers(96, seed=4), components=8, rejection=0.02, target_accuracy=None)
    bundle.with_head(
        head,
        tensors_to_bytes({**weights, **fitted.ood_tensors}),
        calibration=fitted.calibration,
        out_of_distribution=fitted.out_of_distribution,
    )
    return directory


def write_images(directory: Path) -> None:
    images, labels = colour_images(IMAGES_PER_CLASS * len(CLASSES) * 3, seed=2)
    written = dict.fromkeys(range(len(CLASSES)), 0)
    for image, label in zip(images, labels):
        if written[label] < IMAGES_PER_CLASS:
            folder = directory / CLASSES[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{written[label]}.png")
            written[label] += 1


def onnx_model_bytes(tf, model) -> bytes:
    """The same model through tf2onnx, for the TFLite-vs-ONNX Runtime parity test."""
    import tf2onnx

    signature = (tf.TensorSpec((None, SIZE, SIZE, 3), tf.float32, name="input"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=13)
    return proto.SerializeToString()


def main(out_dir: str) -> None:
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        sys.exit(f"{out}: exists and is not an empty folder; remove it first (the committed copy: rm -r {COMMITTED})")
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"  # oneDNN picks its kernels by CPU, and with them the rounding
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    model = train_model(tf, keras)
    write_bundle(out / "float32", convert(tf, model, int8=False), "tflite_float32")
    write_bundle(out / "int8", convert(tf, model, int8=True), "tflite_int8_ptq")
    write_bundle(out / "onnx_float32", onnx_model_bytes(tf, model), "onnx_float32")
    write_head_bundle(out / "float32_head", tf, model, int8=False)
    write_head_bundle(out / "int8_head", tf, model, int8=True)
    write_images(out / "images")


def rebuild(directory: Path) -> Path:
    """Run this script into ``directory`` in a subprocess, which keeps TensorFlow out of the test process."""
    done = subprocess.run([sys.executable, __file__, str(directory)], timeout=600, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"building the tiny bundles failed:\n{done.stderr[-4000:]}")
    return directory


def can_rebuild() -> bool:
    """Whether this environment has what the script needs (the [train] extra: TensorFlow, tf2onnx, ONNX Runtime)."""
    return all(
        importlib.util.find_spec(name) is not None for name in ("tensorflow", "tf_keras", "tf2onnx", "onnxruntime")
    )


def differences(built: Path, committed: Path) -> list[str]:
    """Files that one folder has and the other lacks, or whose bytes differ: [] when the two are identical."""
    files = {
        side: {p.relative_to(side).as_posix() for p in side.rglob("*") if p.is_file()} for side in (built, committed)
    }
    found = [f"{name}: only in {built}" for name in sorted(files[built] - files[committed])]
    found += [f"{name}: only in {committed}" for name in sorted(files[committed] - files[built])]
    found += [
        f"{name}: bytes differ"
        for name in sorted(files[built] & files[committed])
        if (built / name).read_bytes() != (committed / name).read_bytes()
    ]
    return found


if __name__ == "__main__":
    main(sys.argv[1])
