"""The steps from an image to a ``Prediction``, one by one: the runtime's internal engine.

``classifier.Classifier`` is the public way in (create, classify one, classify many). The callers
that must take the steps apart use this module instead, never both: the bench runner times the
interpreter alone, serve decodes in the request's thread and answers on the interpreter's, the
golden-file maker feeds recorded model outputs, export scores decoded arrays (``scoring``).
``tests/test_architecture.py`` keeps every other module off ``Classifier``'s private parts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from brainedge.edge_runtime.backends import Backend, load_backend
from brainedge.edge_runtime.bundle import Bundle
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import shown
from brainedge.edge_runtime.head import Head, softmax
from brainedge.edge_runtime.metadata import (
    DEFAULT_CONFIDENCE_THRESHOLD,
    MOBILENET_MEAN,
    MOBILENET_STD,
    InputSpec,
    OutputSpec,
    Quantization,
    read_labels,
)
from brainedge.edge_runtime.preprocess import (
    DEFAULT_MAX_PIXELS,
    ImageSource,
    decode_pixels,
    dequantize,
    to_input_tensor,
)
from brainedge.edge_runtime.streaming import automatic_workers, prefetch

NOT_FINITE = "the model's output is not finite (NaN or infinity): no answer"

NO_PIXELS = np.zeros((0, 0, 1), np.uint8)
"""``Prepared.pixels`` of an image prepared with ``keep_pixels=False``."""

Name = TypeVar("Name")
"""How the caller tells its images apart in a stream: a path, a frame's name."""


@dataclasses.dataclass(frozen=True)
class Prediction:
    """Ranked classes for one image; ``uncertain`` when the best score is below the threshold,
    ``out_of_distribution`` when the image is unlike the training images (None: the bundle cannot tell)."""

    top_k: list[tuple[str, float]]
    uncertain: bool
    out_of_distribution: bool | None = None
    ood_score: float | None = None
    """The distance behind ``out_of_distribution`` (the bundle's metadata holds its threshold)."""
    class_map: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)
    """With ``explain``: where the model saw the top class, (H, W) in [0, 1] at
    feature-map resolution (``explain.upsample`` brings it to the image's size)."""
    pixels: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)
    """With ``explain=True``: the decoded image the map belongs to, (H, W, 3) or (H, W, 1) when gray;
    ``explain.overlay`` draws on it without decoding the file a second time."""
    latency_ms: float | None = dataclasses.field(default=None, compare=False)
    """Decoding, preprocessing and inference of this image, when ``classify`` timed them (not part
    of the answer: two predictions are equal when they rank the same classes the same)."""
    timings: Timings | None = dataclasses.field(default=None, compare=False)
    """``latency_ms`` step by step."""

    @property
    def label(self) -> str:
        return self.top_k[0][0]

    @property
    def score(self) -> float:
        return self.top_k[0][1]

    def record(self, source: str) -> dict[str, Any]:
        """The one JSON shape of an answer: brainedge-classify's json and csv, the kiosk loop, the API.

        ``label`` stays the top class when uncertain or not recognised: ``uncertain`` says to refer it
        for review, ``ood`` that it is no diagnosis at all (null when the bundle cannot tell).
        """
        return {
            "source": source,
            "label": self.label,
            "score": self.score,
            "uncertain": self.uncertain,
            "ood": self.out_of_distribution,
            "ood_score": None if self.ood_score is None else round(self.ood_score, 3),
            "top_k": [{"label": label, "score": score} for label, score in self.top_k],
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "timings_ms": None if self.timings is None else self.timings.record(),
        }


@dataclasses.dataclass(frozen=True)
class Timings:
    """Where an answer's time went, in milliseconds."""

    decode_ms: float
    preprocess_ms: float
    inference_ms: float
    """The model and its head (and the class map, when asked for)."""

    def record(self) -> dict[str, float]:
        return {
            "decode": round(self.decode_ms, 3),
            "preprocess": round(self.preprocess_ms, 3),
            "inference": round(self.inference_ms, 3),
        }


@dataclasses.dataclass(frozen=True)
class Prepared:
    """One image decoded and preprocessed, ready for the model: the part of classifying that
    needs no interpreter, so other threads can do it while the interpreter runs."""

    tensor: np.ndarray
    """The model's 1xHxWxC input."""
    pixels: np.ndarray
    """The decoded image (H, W, C) uint8, what an overlay is drawn on (``NO_PIXELS`` when not kept)."""
    decode_ms: float
    preprocess_ms: float
    size: tuple[int, int] = (0, 0)
    """The decoded image's height and width, kept or not."""


@dataclasses.dataclass(frozen=True)
class BatchOutputs:
    """A preprocessed batch through the model (and the bundle's head), one row per image."""

    probabilities: np.ndarray
    """float32, calibrated when the bundle carries a temperature (unless asked not to be)."""
    logits: np.ndarray | None = None
    features: np.ndarray | None = None
    """Pooled features of a bundle with a head."""
    ood_scores: np.ndarray | None = None


class Engine:
    """A model plus the contract that feeds it, step by step: preprocessing in, ranked labels out."""

    def __init__(
        self,
        backend: Backend,
        class_names: list[str],
        input_spec: InputSpec,
        output_spec: OutputSpec,
        confidence_threshold: float,
        bundle: Bundle | None = None,
        head: Head | None = None,
    ) -> None:
        self.backend = backend
        self.bundle = bundle  # the bundle this engine was loaded from; None for a bare model
        self.head = head
        self.class_names = class_names
        self.input_spec = input_spec
        self.output_spec = output_spec
        if not 0.0 <= confidence_threshold <= 1.0:
            raise BrainEdgeError(f"confidence threshold must be between 0 and 1, got {confidence_threshold}")
        self.confidence_threshold = confidence_threshold
        _check_model_matches(backend, input_spec, output_spec, len(class_names), head)

    @classmethod
    def from_bundle(
        cls,
        bundle: str | Path | Bundle,
        backend: str = "auto",
        threads: int | None = None,
        xnnpack: bool = True,
        confidence_threshold: float | None = None,
    ) -> Engine:
        """Load a bundle, refusing one whose model file or labels do not match its metadata."""
        if not isinstance(bundle, Bundle):
            bundle = Bundle.open(bundle)
        metadata = bundle.metadata
        threshold = metadata.confidence_threshold if confidence_threshold is None else confidence_threshold
        head = Head.load(bundle.directory, metadata) if metadata.head else None
        loaded = load_backend(bundle.model_path, backend, threads, xnnpack)
        try:
            return cls(loaded, bundle.class_names, metadata.input, metadata.output, threshold, bundle, head)
        except BrainEdgeError as error:
            raise BrainEdgeError(f"{bundle.directory}: {error}") from None

    @classmethod
    def from_model(
        cls,
        model_path: str | Path,
        labels_path: str | Path,
        backend: str = "auto",
        threads: int | None = None,
        xnnpack: bool = True,
        mean: tuple[float, ...] = MOBILENET_MEAN,
        std: tuple[float, ...] = MOBILENET_STD,
        softmax_output: bool = True,
        confidence_threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
    ) -> Engine:
        """A bare third-party model: size and quantization come from the model itself."""
        loaded = load_backend(Path(model_path), backend, threads, xnnpack)
        shape = loaded.input.shape
        if len(shape) != 4 or shape[3] != 3:
            raise BrainEdgeError(f"{model_path}: expected an NHWC input with 3 channels, got {shape}")
        input_spec = InputSpec(
            height=shape[1],
            width=shape[2],
            dtype=loaded.input.dtype,
            quantization=loaded.input.quantization,
            mean=mean,
            std=std,
        )
        output_spec = OutputSpec(
            num_classes=loaded.output.shape[-1],
            dtype=loaded.output.dtype,
            quantization=loaded.output.quantization,
            activation="softmax" if softmax_output else "none",
        )
        labels = read_labels(Path(labels_path))
        if len(labels) != output_spec.num_classes:
            raise BrainEdgeError(
                f"{labels_path}: {len(labels)} labels, but {model_path} has {output_spec.num_classes} outputs"
            )
        return cls(loaded, labels, input_spec, output_spec, confidence_threshold)

    def preprocess(self, image: ImageSource) -> np.ndarray:
        """Decode and apply the bundle's preprocessing contract: the model's 1xHxWxC input."""
        return to_input_tensor(decode_pixels(image), self.input_spec)

    def model_output(self, batch: np.ndarray) -> np.ndarray:
        """The model's output for a preprocessed batch, dequantized to float32 (a head bundle's feature map)."""
        raw = self.backend.run(batch)
        if self.output_spec.quantization is not None:
            raw = dequantize(raw, self.output_spec.quantization.scale, self.output_spec.quantization.zero_point)
        return raw.astype(np.float32)

    def run(self, batch: np.ndarray, calibrated: bool = True) -> BatchOutputs:
        """Run a preprocessed batch through the model and, when the bundle has one, its head."""
        return self._outputs(self.model_output(batch), calibrated)

    def _outputs(self, raw: np.ndarray, calibrated: bool) -> BatchOutputs:
        if not np.isfinite(raw).all():
            raise BrainEdgeError(NOT_FINITE)
        if self.head is not None:
            outputs = self.head.run(raw)
            probabilities = self.head.probabilities(outputs.logits, calibrated).astype(np.float32)
            return BatchOutputs(probabilities, outputs.logits, outputs.features, outputs.ood_scores)
        raw = raw.reshape(raw.shape[0], -1)
        if self.output_spec.activation == "none":
            return BatchOutputs(softmax(raw).astype(np.float32), logits=raw)
        return BatchOutputs(raw)

    def probabilities(self, batch: np.ndarray, calibrated: bool = True) -> np.ndarray:
        """Run a preprocessed batch; returns float32 class probabilities, one row per image."""
        return self.run(batch, calibrated).probabilities

    def rank(self, probabilities: np.ndarray, top_k: int = 3, ood_score: float | None = None) -> Prediction:
        """Ranked classes of one image; ``ood_score`` (from ``run``) decides out-of-distribution."""
        if top_k < 1:
            raise BrainEdgeError(f"top_k must be at least 1, got {top_k}")
        order = np.argsort(-probabilities, kind="stable")[:top_k]
        ranked = [(self.class_names[i], float(probabilities[i])) for i in order]
        unrecognised = None
        if ood_score is not None and self.head is not None:
            unrecognised = bool(self.head.out_of_distribution(np.array([ood_score]))[0])
        return Prediction(
            ranked,
            uncertain=ranked[0][1] < self.confidence_threshold,
            out_of_distribution=unrecognised,
            ood_score=None if ood_score is None else float(ood_score),
        )

    def prepare(self, image: ImageSource, keep_pixels: bool = True, max_pixels: int = DEFAULT_MAX_PIXELS) -> Prepared:
        """Decode and preprocess one image (path, bytes, PIL image or uint8 array); safe to call from
        any thread. A file that cannot be decoded, or has more than ``max_pixels``, raises an error
        naming it. ``keep_pixels=False`` keeps only the tensor (``pixels`` is ``NO_PIXELS``), for images
        that wait for the interpreter and will have no overlay drawn on them."""
        started = time.perf_counter()
        pixels = decode_pixels(image, max_pixels)
        decoded = time.perf_counter()
        tensor = to_input_tensor(pixels, self.input_spec)
        kept = pixels if keep_pixels else NO_PIXELS
        preprocess_ms = (time.perf_counter() - decoded) * 1000
        return Prepared(tensor, kept, (decoded - started) * 1000, preprocess_ms, size=pixels.shape[:2])

    def answer(self, prepared: Prepared, top_k: int = 3, explain: bool = False) -> Prediction:
        """A prepared image through the model and its head, timed; ``explain`` adds the top class's
        activation map (bundles with a head of one dense layer). Uses the interpreter: one thread at a time."""
        if explain and self.head is None:
            raise BrainEdgeError("this bundle has no head to draw class-activation maps from (export it again)")
        started = time.perf_counter()
        raw = self.model_output(prepared.tensor)
        outputs = self._outputs(raw, calibrated=True)
        score = None if outputs.ood_scores is None else outputs.ood_scores[0]
        prediction = self.rank(outputs.probabilities[0], top_k, score)
        class_map = None
        if explain:
            class_map = self.head.class_map(raw[0], int(np.argmax(outputs.probabilities[0])))
        timings = Timings(prepared.decode_ms, prepared.preprocess_ms, (time.perf_counter() - started) * 1000)
        latency = timings.decode_ms + timings.preprocess_ms + timings.inference_ms
        pixels = prepared.pixels if explain else None
        return dataclasses.replace(prediction, class_map=class_map, pixels=pixels, latency_ms=latency, timings=timings)

    def classify(
        self, image: ImageSource, top_k: int = 3, explain: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS
    ) -> Prediction:
        """One image (path, bytes, PIL image or uint8 array) → ranked labels, timed (``prepare``, then ``answer``)."""
        prepared = self.prepare(image, max_pixels=max_pixels)
        try:
            return self.answer(prepared, top_k, explain)
        except BrainEdgeError as error:
            raise _naming(image, error) from None

    def stream(
        self,
        named_images: Iterable[tuple[Name, ImageSource]],
        top_k: int = 3,
        explain: bool = False,
        decode_workers: int | None = None,
        stop: threading.Event | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> Iterator[tuple[Name, Prediction | BrainEdgeError]]:
        """Each (name, image) with its answer, in order; a bad image yields its error and the stream goes on.

        ``decode_workers`` threads decode and preprocess the next images (``streaming.prefetch``, a few
        ahead at most, each kept as its tensor alone unless ``explain`` needs its pixels) while the
        interpreter answers this one, on the caller's thread and no other.
        None: ``streaming.automatic_workers()``; 0: one image at a time, no threads. ``named_images``
        may be endless (a watched folder, a camera): each answer is yielded as soon as it is known, and
        ``stop`` is set when the stream ends, for such a source to end its wait for the next image.
        """
        if top_k < 1:
            raise BrainEdgeError(f"top_k must be at least 1, got {top_k}")
        workers = automatic_workers() if decode_workers is None else decode_workers
        prepared = prefetch(named_images, lambda named: self.prepare(named[1], explain, max_pixels), workers, stop)
        with contextlib.closing(prepared):  # closing this stream stops the decode workers at once
            for (name, image), ready in prepared:
                yield name, self._answer_or_error(image, ready, top_k, explain)

    def _answer_or_error(
        self, image: ImageSource, prepared: Prepared | BrainEdgeError, top_k: int, explain: bool
    ) -> Prediction | BrainEdgeError:
        if isinstance(prepared, BrainEdgeError):
            return prepared
        try:
            return self.answer(prepared, top_k, explain)
        except BrainEdgeError as error:
            return _naming(image, error)


def _naming(image: ImageSource, error: BrainEdgeError) -> BrainEdgeError:
    """Decoding errors name the file; an answer's error about a file must name it too."""
    if isinstance(image, (str, Path)):
        return BrainEdgeError(f"{shown(Path(image))}: {error}")
    return error


def _check_model_matches(
    backend: Backend, spec: InputSpec, output: OutputSpec, num_labels: int, head: Head | None
) -> None:
    shape = backend.input.shape
    expected = (spec.height, spec.width, spec.channels)
    if tuple(shape[1:]) != expected:
        raise BrainEdgeError(f"model input is {tuple(shape[1:])}, metadata says {expected}")
    if backend.input.dtype != spec.dtype:
        raise BrainEdgeError(f"model input is {backend.input.dtype}, metadata says {spec.dtype}")
    if not _same_quantization(backend.input.quantization, spec.quantization):
        raise BrainEdgeError(
            f"model input quantization is {backend.input.quantization}, metadata says {spec.quantization}"
        )
    if head is not None:
        if tuple(backend.output.shape[1:]) != head.spec.feature_map:
            raise BrainEdgeError(
                f"model output is {tuple(backend.output.shape[1:])}, the head expects {head.spec.feature_map}"
            )
        if head.num_classes != num_labels:
            raise BrainEdgeError(f"the head has {head.num_classes} outputs but there are {num_labels} labels")
        return
    classes = backend.output.shape[-1]
    if classes != output.num_classes or classes != num_labels:
        raise BrainEdgeError(f"model has {classes} outputs but there are {num_labels} labels")


def _same_quantization(a: Quantization | None, b: Quantization | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.zero_point == b.zero_point and abs(a.scale - b.scale) <= 1e-6 * abs(b.scale)
