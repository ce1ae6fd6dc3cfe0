"""Classify images with a model bundle (or a bare model and a labels file): the runtime's public way in."""

from __future__ import annotations

import contextlib
import dataclasses
import stat
import sys
import threading
from collections.abc import Iterable, Iterator, Sized
from pathlib import Path
from typing import TextIO, Union

from brainedge.edge_runtime.backends import BACKENDS, check_threads
from brainedge.edge_runtime.bundle import Bundle
from brainedge.edge_runtime.engine import Engine, Name, Prediction, Timings  # what classify gives, made there
from brainedge.edge_runtime.errors import BrainEdgeError, check_number
from brainedge.edge_runtime.files import shown, walk_files
from brainedge.edge_runtime.metadata import (
    DEFAULT_CONFIDENCE_THRESHOLD,
    MOBILENET_MEAN,
    MOBILENET_STD,
    BundleMetadata,
)
from brainedge.edge_runtime.preprocess import DEFAULT_MAX_PIXELS, ImageSource
from brainedge.edge_runtime.streaming import MAX_DECODE_WORKERS

__all__ = [
    "NOT_RECOGNISED",
    "UNCERTAIN",
    "Classifier",
    "ClassifierOptions",
    "Prediction",
    "ProgressBar",
    "Timings",
    "collect_files",
]

UNCERTAIN = "uncertain — refer for review"
NOT_RECOGNISED = "not recognised — this does not look like the images the model was trained on"

Many = Union[str, Path, Iterable[Union[Path, tuple[Name, ImageSource]]]]
"""What ``classify_many`` takes: a file or folder, or images each a path or a (name, image) pair."""


@dataclasses.dataclass(frozen=True)
class ClassifierOptions:
    """How a ``Classifier`` loads its model and answers; every field is checked when it is made.

    Raises:
        BrainEdgeError: a value out of its range, in one line naming the field.
    """

    backend: str = "auto"
    """"auto" (the first installed interpreter for the model's type) or one of ``backends.BACKENDS``."""
    threads: int | None = None
    """Interpreter threads, 1 to ``backends.MAX_THREADS``; None: the interpreter's default."""
    xnnpack: bool = True
    """TFLite's XNNPACK delegate (ignored by ONNX Runtime)."""
    confidence_threshold: float | None = None
    """Below it an answer is ``uncertain``, in [0, 1]; None: the bundle's own (a bare model's default)."""
    top_k: int = 3
    """Classes ranked in each answer, at least 1."""
    explain: bool = False
    """Add the top class's activation map and the decoded pixels to each answer (a head of one dense layer)."""
    decode_workers: int | None = None
    """Threads decoding the next images in ``classify_many``, 0 to ``MAX_DECODE_WORKERS``; 0: none;
    None: ``streaming.automatic_workers()``."""
    max_pixels: int = DEFAULT_MAX_PIXELS
    """An image with more pixels is refused before it is decoded (a decompression bomb)."""

    def __post_init__(self) -> None:
        if self.backend != "auto" and self.backend not in BACKENDS:
            raise BrainEdgeError(f"unknown backend {self.backend!r} (choose from auto, {', '.join(BACKENDS)})")
        check_threads(self.threads)
        if self.confidence_threshold is not None:
            check_number("confidence_threshold", self.confidence_threshold, 0.0, 1.0)
        check_number("top_k", self.top_k, 1, whole=True)
        if self.decode_workers is not None:
            check_number("decode_workers", self.decode_workers, 0, MAX_DECODE_WORKERS, whole=True)
        check_number("max_pixels", self.max_pixels, 1, whole=True)
        for name in ("xnnpack", "explain"):
            if not isinstance(getattr(self, name), bool):
                raise BrainEdgeError(f"{name} must be True or False, got {getattr(self, name)!r}")


class Classifier:
    """A model plus the contract that feeds it: images in, ranked labels out.

    Model contract (what a bundle's model takes and gives; ``metadata.json`` states each number):

    - Input: one image as a 1 x H x W x 3 tensor (NHWC), RGB (a grayscale image has R = G = B),
      resized to the metadata's ``input.height`` x ``input.width`` (bilinear, half-pixel centres, no
      antialiasing), then ``(pixel - mean) / std`` per channel on 0-255 values (MobileNet's 127.5 and
      127.5: [-1, 1]), and for an int8 or uint8 input quantized with the input's scale and zero point.
    - Output, without a head: 1 x N class scores in ``labels.txt``'s order, dequantized with the
      output's scale and zero point; probabilities (``activation: softmax``) or logits (``none``,
      softmaxed here).
    - Output, with a head (schema 2): the backbone's 1 x h x w x C feature map; the bundle's head
      file (average pooling, then dense layers) gives the logits, its temperature the calibrated
      probabilities, and its out-of-distribution model a distance from the training images' pooled
      features (above its threshold: not recognised).

    An answer below ``confidence_threshold`` is ``uncertain``. ``from_bundle`` refuses a bundle whose
    model file does not match this contract as its metadata states it.
    """

    def __init__(self, engine: Engine, options: ClassifierOptions | None = None) -> None:
        """Use ``from_bundle`` or ``from_model``; this wraps an ``engine.Engine`` already loaded (tests, tools),
        whose backend, threads and threshold were fixed when it was loaded: ``options`` shapes the answers."""
        self._engine = engine
        self._options = _checked(options)
        if self._options.explain:
            _check_explainable(engine)

    @classmethod
    def from_bundle(cls, bundle: str | Path | Bundle, options: ClassifierOptions | None = None) -> Classifier:
        """Load a bundle folder for classifying.

        Args:
            bundle: the bundle's folder (``metadata.json``, ``labels.txt``, the model), or one opened.
            options: backend, threads, threshold, answers' shape; the defaults when None.

        Returns:
            A classifier whose answers follow the bundle's metadata.

        Raises:
            BrainEdgeError: the bundle is unreadable, its model file or labels do not match its
                metadata, or the asked-for backend cannot run its model (one line naming the bundle).
        """
        options = _checked(options)
        engine = Engine.from_bundle(
            bundle, options.backend, options.threads, options.xnnpack, options.confidence_threshold
        )
        return cls(engine, options)

    @classmethod
    def from_model(
        cls,
        model_path: str | Path,
        labels_path: str | Path,
        options: ClassifierOptions | None = None,
        mean: tuple[float, ...] = MOBILENET_MEAN,
        std: tuple[float, ...] = MOBILENET_STD,
        softmax_output: bool = True,
    ) -> Classifier:
        """Load a bare third-party model (``brainedge-classify --model``): size and quantization come
        from the model itself, normalization from ``mean`` and ``std``.

        Args:
            model_path: a ``.tflite`` or ``.onnx`` file with one NHWC input of 3 channels.
            labels_path: one class name per line, as many as the model has outputs.
            options: as for ``from_bundle``; a threshold of None is ``DEFAULT_CONFIDENCE_THRESHOLD``.
            mean: per channel, subtracted from the 0-255 pixel values before the model.
            std: per channel, what they are then divided by.
            softmax_output: whether the model outputs probabilities (False: logits, softmaxed here).

        Returns:
            A classifier without a head (no class maps, no out-of-distribution flag).

        Raises:
            BrainEdgeError: the model is not NHWC with 3 channels, or labels and outputs differ in number.
        """
        options = _checked(options)
        threshold = options.confidence_threshold
        engine = Engine.from_model(
            model_path,
            labels_path,
            options.backend,
            options.threads,
            options.xnnpack,
            mean,
            std,
            softmax_output,
            DEFAULT_CONFIDENCE_THRESHOLD if threshold is None else threshold,
        )
        return cls(engine, options)

    @property
    def class_names(self) -> list[str]:
        """The labels, in the model's output order."""
        return self._engine.class_names

    @property
    def metadata(self) -> BundleMetadata | None:
        """The bundle's metadata; None for a bare model."""
        return None if self._engine.bundle is None else self._engine.bundle.metadata

    @property
    def options(self) -> ClassifierOptions:
        return self._options

    def classify(self, image: ImageSource) -> Prediction:
        """Classify one image, timed.

        Args:
            image: a path, encoded bytes, a PIL image or a uint8 array (H x W x 3, or H x W gray).

        Returns:
            The ``top_k`` ranked classes, flagged uncertain or not recognised, with the time each step
            took; with ``explain``, also the class-activation map and the decoded pixels.

        Raises:
            BrainEdgeError: the image cannot be read or decoded, has more than ``max_pixels``, the model's
                output is not finite, or ``explain`` is asked of a bundle without a head; a path is named.
        """
        options = self._options
        return self._engine.classify(image, options.top_k, options.explain, options.max_pixels)

    def classify_many(
        self, images: Many, progress: bool = False, stop: threading.Event | None = None
    ) -> Iterator[tuple[object, Prediction | BrainEdgeError]]:
        """Classify images one after another, in order, decoding the next ones meanwhile.

        ``decode_workers`` threads decode and preprocess a few images ahead (``streaming.prefetch``),
        while the interpreter answers this one on the caller's thread and no other. ``images`` may be
        endless (a watched folder, a camera): each answer is yielded as soon as it is known.

        Args:
            images: a file or a folder (walked as ``collect_files`` does), or an iterable of images, each
                a path (its own name) or a ``(name, image)`` pair.
            progress: draw a bar on stderr, erased while the caller prints.
            stop: set when the stream ends (finished or closed), for an endless source to end its wait.

        Returns:
            An iterator of ``(name, answer)`` in input order; a bad image's answer is its
            ``BrainEdgeError`` and the stream goes on. Closing it stops the decode workers at once.

        Raises:
            BrainEdgeError: only from the source itself; every image's own problem is yielded.
        """
        if isinstance(images, (str, Path)):
            root = Path(images)
            images, left_out = collect_files([root])
            for problem in left_out:  # a FIFO, a broken link, an empty folder: said, never opened
                yield root, BrainEdgeError(problem)
        total = len(images) if isinstance(images, Sized) else None
        named = (item if isinstance(item, tuple) else (item, item) for item in images)
        options = self._options
        answers = self._engine.stream(
            named, options.top_k, options.explain, options.decode_workers, stop, options.max_pixels
        )
        bar = ProgressBar(total) if progress else None
        with contextlib.closing(answers):
            try:
                for done, (name, result) in enumerate(answers, start=1):
                    if bar is not None:
                        bar.clear()
                    yield name, result
                    if bar is not None:
                        bar.draw(done)
            finally:
                if bar is not None:
                    bar.clear()


def _check_explainable(engine: Engine) -> None:
    """Class-activation maps are exact for a head of one dense layer only: refused at creation, naming the
    bundle, rather than at the first image."""
    head = engine.bundle.metadata.head if engine.bundle is not None else None
    if head is None or len(head.layers) != 1:
        why = "has no head (exported before 0.2, or a bare model)" if head is None else "has hidden head layers"
        source = "this model" if engine.bundle is None else shown(engine.bundle.directory)
        raise BrainEdgeError(f"{source}: explain needs a head of one dense layer for class-activation maps; it {why}")


def _checked(options: object) -> ClassifierOptions:
    """The options a caller gave, or the defaults; anything else (a dict, say) is one line."""
    if options is None:
        return ClassifierOptions()
    if not isinstance(options, ClassifierOptions):
        raise BrainEdgeError(f"options must be a ClassifierOptions, got {type(options).__name__}")
    return options


def collect_files(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """Files as given, folders walked (``files.walk_files``), and one line for each thing left out.

    Hidden files and folders (``.DS_Store``, ``.git``) are skipped; every other regular file is
    classified, so a non-image file is reported rather than silently ignored. Empty folders,
    FIFOs, sockets, devices, broken links and link cycles are reported and never opened. A path
    that does not exist is kept: classifying it reports "no such file" like any other bad file.
    """
    files: list[Path] = []
    problems: list[str] = []
    for path in paths:
        try:
            mode = path.stat().st_mode
        except OSError:
            files.append(path)
            continue
        if stat.S_ISREG(mode):
            files.append(path)
        elif not stat.S_ISDIR(mode):
            problems.append(f"{shown(path)}: not a regular file (a FIFO, socket or device); skipped")
        else:
            walk = walk_files(path)
            files += walk.files
            problems += [f"{shown(folder)}: empty folder, no images to classify" for folder in walk.empty_folders]
            problems += [f"{shown(where)}: {reason}" for where, reason in walk.problems]
    return files, problems


class ProgressBar:
    """``[#####.....] 12/25 images`` on one stderr line, redrawn in place."""

    WIDTH = 30

    def __init__(self, total: int | None, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self._drawn = 0
        self.draw(0)

    def draw(self, done: int) -> None:
        if self.total:
            filled = self.WIDTH * done // self.total
            text = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{self.total} images"
        else:
            text = f"{done} images"
        self.stream.write("\r" + text)
        self.stream.flush()
        self._drawn = len(text)

    def clear(self) -> None:
        """Blank the line, so a result or an error printed next starts clean."""
        if self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0
