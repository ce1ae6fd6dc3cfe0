"""One tiny model exported twice, as a float32 TFLite bundle and a float32 ONNX bundle.

The backend-parity test needs the *same* weights under both interpreters; this trains
make_tiny_bundles' colour model once and converts it with TFLiteConverter and tf2onnx.
Runs in its own process because it imports TensorFlow.

usage: python tests/make_onnx_bundles.py OUT_DIR
       → OUT_DIR/tflite/, OUT_DIR/onnx/ (bundles), OUT_DIR/images/<class>/*.png
From a test: ``onnx_bundles(directory)`` (builds once, in a subprocess).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from make_tiny_bundles import SIZE, build_in_subprocess, convert, train_model, write_bundle, write_images


def onnx_model_bytes(model, tf) -> bytes:
    import tf2onnx

    signature = (tf.TensorSpec((None, SIZE, SIZE, 3), tf.float32, name="input"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=13)
    return proto.SerializeToString()


def main(out_dir: str) -> None:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    out = Path(out_dir)
    model = train_model(tf, keras)
    write_bundle(out / "tflite", convert(tf, model, int8=False), "tflite_float32")
    write_bundle(out / "onnx", onnx_model_bytes(model, tf), "onnx_float32")
    write_images(out / "images")


def onnx_bundles(directory: Path) -> Path:
    return build_in_subprocess(__file__, directory, "the TFLite + ONNX bundles")


def onnx_export_available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("tensorflow", "tf_keras", "tf2onnx"))


if __name__ == "__main__":
    main(sys.argv[1])
