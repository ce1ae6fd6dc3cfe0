"""Interpreters that run a model file: LiteRT first, then tflite-runtime, tf.lite, ONNX Runtime.

``auto`` takes tf.lite only when TensorFlow is already loaded in the process: the runtime
imports TensorFlow only when ``tensorflow`` is asked for by name. Each backend exposes the
same small surface (tensor specs in, probabilities or logits out), so the classifier never
cares which one it got.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from brainedge.edge_runtime.errors import BrainEdgeError, check_number
from brainedge.edge_runtime.metadata import Quantization

TFLITE_BACKENDS = ("litert", "tflite_runtime", "tensorflow")
ONNX_BACKENDS = ("onnxruntime",)
BACKENDS = TFLITE_BACKENDS + ONNX_BACKENDS


@dataclass(frozen=True)
class TensorInfo:
    shape: tuple[int, ...]
    dtype: str
    quantization: Quantization | None


class Backend:
    """A loaded model: one input image batch in, one output tensor out."""

    name: str
    input: TensorInfo
    output: TensorInfo

    def run(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class TFLiteBackend(Backend):
    def __init__(
        self,
        name: str,
        interpreter_class: Callable[..., Any],
        path: Path,
        threads: int | None,
        xnnpack: bool,
        resolver_without_delegates: Any,
    ) -> None:
        options: dict[str, Any] = {"model_path": str(path), "num_threads": threads}
        if not xnnpack:
            options["experimental_op_resolver_type"] = resolver_without_delegates
        try:
            with _without_delegate_notice():
                self._interpreter = interpreter_class(**options)
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise BrainEdgeError(f"{path}: not a loadable TFLite model ({error})") from None
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise BrainEdgeError(
                f"{path}: expected one input and one output tensor, got {len(inputs)} and {len(outputs)}"
            )
        self.name = name
        self._input_index = inputs[0]["index"]
        self._output_index = outputs[0]["index"]
        self.input = _tflite_tensor_info(inputs[0])
        self.output = _tflite_tensor_info(outputs[0])

    def run(self, batch: np.ndarray) -> np.ndarray:
        if batch.shape[0] != self.input.shape[0]:
            self._interpreter.resize_tensor_input(self._input_index, list(batch.shape))
            self._interpreter.allocate_tensors()
            self.input = TensorInfo(batch.shape, self.input.dtype, self.input.quantization)
        self._interpreter.set_tensor(self._input_index, batch)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output_index)


DELEGATE_NOTICE = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"


@contextmanager
def _without_delegate_notice() -> Iterator[None]:
    """LiteRT prints an INFO line on stderr for every interpreter; anything else it prints still shows."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        yield
        return
    import tempfile  # here: with shutil, random, bz2 and lzma it is ~1 MB that most processes never need

    with tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            rest = captured.read().replace(DELEGATE_NOTICE, b"")
            if rest:
                os.write(2, rest)


def _tflite_tensor_info(detail: dict[str, Any]) -> TensorInfo:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    quantization = Quantization(float(scale), int(zero_point)) if scale else None
    return TensorInfo(tuple(int(d) for d in detail["shape"]), np.dtype(detail["dtype"]).name, quantization)


class OnnxBackend(Backend):
    def __init__(self, path: Path, threads: int | None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        if int8_kernels_saturate():
            options.add_session_config_entry("session.x64quantprecision", "1")  # exact U8U8 kernels
        try:
            self._session = onnxruntime.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own untyped errors
            raise BrainEdgeError(f"{path}: not a loadable ONNX model ({error})") from None
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise BrainEdgeError(f"{path}: expected one input and one output, got {len(inputs)} and {len(outputs)}")
        self.name = "onnxruntime"
        self._input_name = inputs[0].name
        self.input = TensorInfo(_onnx_shape(inputs[0].shape), _onnx_dtype(inputs[0].type), None)
        self.output = TensorInfo(_onnx_shape(outputs[0].shape), _onnx_dtype(outputs[0].type), None)

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input_name: batch})[0]


def int8_kernels_saturate() -> bool:
    """Whether this is an x86 CPU without VNNI, whose int8 dot products saturate in ONNX Runtime.

    There ORT's default int8 kernels add products in 16-bit pairs that overflow, and an int8
    model that agrees with Keras on one machine disagrees on another (seen: 89% agreement
    instead of 100%); its exact kernels are needed. Elsewhere they only cost time (5.1 ms
    instead of 2.9 per 224 px int8 MobileNetV2 on an AVX-512 VNNI CPU). CPU features come from
    numpy's own CPUID probe; when it cannot tell, the exact kernels are chosen.
    """
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686", "x86"):
        return False
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features  # numpy 2
    except ImportError:
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features  # numpy 1
        except ImportError:
            return True
    return not (features.get("AVX512VNNI") or features.get("AVX512_CLX"))


def _onnx_shape(shape: list[Any]) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else 1 for d in shape)


def _onnx_dtype(type_name: str) -> str:
    return {"tensor(float)": "float32", "tensor(uint8)": "uint8", "tensor(int8)": "int8"}.get(type_name, type_name)


def available_backends() -> list[str]:
    """Backends importable in this process, in order of preference."""
    return [name for name in BACKENDS if _importable(name)]


def _importable(name: str, requested: bool = False) -> bool:
    """Whether a backend can be used; TensorFlow is only imported when asked for by name."""
    if name == "tensorflow" and not requested:  # auto never pays TensorFlow's import for a model
        return "tensorflow" in sys.modules
    module = {
        "litert": "ai_edge_litert.interpreter",
        "tflite_runtime": "tflite_runtime.interpreter",
        "tensorflow": "tensorflow",
        "onnxruntime": "onnxruntime",
    }[name]
    if name == "tensorflow":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


MAX_THREADS = 64
"""More interpreter threads than any Pi, phone or workstation here has cores; a huge count would try to
start that many native threads and starve every process on the machine of them."""


def check_threads(threads: int | None, name: str = "threads") -> None:
    """The one range check of an interpreter thread count (None: the interpreter's default).

    Raises:
        BrainEdgeError: below 1 or above ``MAX_THREADS``, in one line naming ``name``.
    """
    if threads is not None:
        check_number(name, threads, 1, MAX_THREADS, whole=True)


def load_backend(path: Path, backend: str = "auto", threads: int | None = None, xnnpack: bool = True) -> Backend:
    """Load a .tflite or .onnx model with the requested (or best available) backend.

    ``xnnpack=False`` runs TFLite's built-in kernels without the default XNNPACK delegate;
    ONNX Runtime has no such switch and ignores it.
    """
    check_threads(threads)
    suffix = path.suffix.lower()
    if suffix not in (".tflite", ".onnx"):
        raise BrainEdgeError(f"{path}: unknown model type (expected .tflite or .onnx)")
    if not path.is_file():
        raise BrainEdgeError(f"{path}: model file not found")
    candidates = TFLITE_BACKENDS if suffix == ".tflite" else ONNX_BACKENDS
    if backend != "auto":
        if backend not in candidates:
            raise BrainEdgeError(
                f"{path}: backend {backend!r} cannot run a {suffix} model (choose from {', '.join(candidates)})"
            )
        if not _importable(backend, requested=True):
            raise BrainEdgeError(f"backend {backend!r} is not installed here")
        chosen = backend
    else:
        # The first importable one: later candidates are never imported (memory on a Pi).
        chosen = next((name for name in candidates if _importable(name)), None)
        if chosen is None:
            hint = "install brainedge with the [edge] extra" if suffix == ".tflite" else "the [onnx] extra"
            raise BrainEdgeError(f"{path}: no interpreter for {suffix} models is installed ({hint})")
    if chosen == "onnxruntime":
        return OnnxBackend(path, threads)
    return _tflite_backend(chosen, path, threads, xnnpack)


def _tflite_backend(name: str, path: Path, threads: int | None, xnnpack: bool) -> Backend:
    if name == "litert":
        from ai_edge_litert import interpreter as module
    elif name == "tflite_runtime":
        from tflite_runtime import interpreter as module  # type: ignore[no-redef]
    else:
        module = sys.modules["tensorflow"].lite  # type: ignore[assignment]
    resolver = module.experimental.OpResolverType if name == "tensorflow" else module.OpResolverType
    return TFLiteBackend(name, module.Interpreter, path, threads, xnnpack, resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
