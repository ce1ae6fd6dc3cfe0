"""Import TensorFlow with Keras 2 (tf_keras): QAT in tensorflow-model-optimization needs it.

Every training and export module imports ``tf`` and ``keras`` from here, so the
legacy-Keras switch is set once, before TensorFlow is first imported.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

__all__ = ["keras", "tf"]
