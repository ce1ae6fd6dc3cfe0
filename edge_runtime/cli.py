"""brainedge-classify: classify images or folders with a bundle or a bare .tflite/.onnx model.

  brainedge-classify --bundle DIR [--format text|json|csv] PATH...     images and folders
  brainedge-classify --bundle DIR --watch FOLDER [--max-images N]      kiosk: new images as they arrive
  brainedge-classify --bundle DIR --camera [auto|picamera|opencv]      kiosk: camera frames

Exit status: 0 all classified, 1 some files could not be (each is named on stderr),
2 nothing could run (bad model, bundle or arguments).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Callable, Optional, Union

from brainedge.edge_runtime.backends import BACKENDS, check_threads
from brainedge.edge_runtime.camera import CAMERAS, Frames, camera_frames, folder_frames
from brainedge.edge_runtime.classifier import (
    NOT_RECOGNISED,
    UNCERTAIN,
    Classifier,
    ClassifierOptions,
    Prediction,
    collect_files,
)
from brainedge.edge_runtime.cli_help import DefaultsHelpFormatter
from brainedge.edge_runtime.errors import (
    BrainEdgeError,
    OneLineParser,
    check_number,
    report_user_errors,
    stop_like_ctrl_c,
)
from brainedge.edge_runtime.files import check_output_folder, shown, write_atomically
from brainedge.edge_runtime.metadata import MOBILENET_MEAN, MOBILENET_STD
from brainedge.edge_runtime.streaming import MAX_DECODE_WORKERS, automatic_workers
from brainedge.edge_runtime.version import VersionAction

OUTPUT_FORMATS = ("text", "json", "csv")
MAX_INTERVAL_S = 86_400
"""The kiosk's longest wait between folder checks or frames: a day (NaN and inf would never wake or busy-loop)."""
Result = Union[Prediction, BrainEdgeError]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="brainedge-classify", description=__doc__, formatter_class=DefaultsHelpFormatter)
    parser.add_argument("paths", nargs="*", type=Path, help="images or folders of images")
    parser.add_argument("--version", action=VersionAction)
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--bundle", type=Path, help="a model bundle directory (metadata.json inside)")
    model.add_argument("--model", type=Path, help="a bare .tflite or .onnx model (needs --labels)")
    parser.add_argument("--labels", type=Path, help="labels file for --model, one class per line")
    parser.add_argument(
        "--mean",
        type=float,
        nargs=3,
        default=MOBILENET_MEAN,
        help="per-channel mean for --model (default: MobileNetV2's 127.5)",
    )
    parser.add_argument(
        "--std",
        type=float,
        nargs=3,
        default=MOBILENET_STD,
        help="per-channel std for --model (default: MobileNetV2's 127.5)",
    )
    parser.add_argument("--logits", action="store_true", help="--model outputs logits, apply softmax")
    parser.add_argument("--top-k", type=int, default=3, help="ranked classes per image (default 3)")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="confidence below which the answer is 'uncertain — refer for review' "
        "(default: the bundle's confidence_threshold, 0.5 for --model)",
    )
    parser.add_argument("--format", choices=OUTPUT_FORMATS, default="text", help="output format (default text)")
    parser.add_argument(
        "--json",
        dest="format",
        action="store_const",
        const="json",
        help="same as --format json: one JSON object per image",
    )
    parser.add_argument(
        "--backend",
        choices=("auto",) + BACKENDS,
        default="auto",
        help="interpreter (default auto: LiteRT, tflite-runtime, then tf.lite when "
        "TensorFlow is already loaded; ONNX Runtime for .onnx)",
    )
    parser.add_argument("--threads", type=int, default=None, help="interpreter threads (default: its own)")
    parser.add_argument(
        "--decode-workers",
        type=int,
        default=None,
        metavar="N",
        help="threads that decode and preprocess the next images while the interpreter answers this one "
        f"(default: one fewer than the cores, 1 to 4, here {automatic_workers()}; 0: one image at a time)",
    )
    parser.add_argument(
        "--no-xnnpack",
        dest="xnnpack",
        action="store_false",
        help="TFLite: run the built-in kernels without the XNNPACK delegate",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr for batch runs (default: when stderr is a terminal)",
    )
    parser.add_argument("--max-images", type=int, default=None, help="stop after this many images")
    parser.add_argument(
        "--explain",
        type=Path,
        metavar="OUT_DIR",
        help="also write OUT_DIR/NAME.png per image: where the model saw its answer (class-activation map "
        "in viridis over the image, answer in the corner); bundles with a head only",
    )
    kiosk = parser.add_argument_group("kiosk mode (runs until Ctrl-C, SIGTERM or --max-images)")
    source = kiosk.add_mutually_exclusive_group()
    source.add_argument("--watch", type=Path, metavar="FOLDER", help="classify every new image dropped into FOLDER")
    source.add_argument(
        "--camera",
        nargs="?",
        const="auto",
        choices=CAMERAS,
        help="classify camera frames: picamera2 (Raspberry Pi camera) or OpenCV; default auto",
    )
    kiosk.add_argument(
        "--include-existing", action="store_true", help="with --watch, also classify the images already there at start"
    )
    kiosk.add_argument(
        "--interval", type=float, default=1.0, help="seconds between folder checks or camera frames (default 1)"
    )
    kiosk.add_argument("--camera-index", type=int, default=0, help="OpenCV camera number (default 0)")
    return parser


def check_args(args: argparse.Namespace) -> None:
    """Argument combinations argparse cannot express, as one-line errors."""
    kiosk = args.watch is not None or args.camera is not None
    if not kiosk and not args.paths:
        raise BrainEdgeError("give images or folders to classify, or --watch FOLDER, or --camera")
    if kiosk and args.paths:
        raise BrainEdgeError("--watch and --camera classify what arrives; do not also give PATHs")
    if args.watch is not None and not args.watch.is_dir():
        problem = "not a folder" if args.watch.exists() else "folder to watch not found"
        raise BrainEdgeError(f"{shown(args.watch)}: {problem}")
    check_number("--interval", args.interval, 0, MAX_INTERVAL_S)
    if args.model and not args.labels:
        raise BrainEdgeError("--model needs --labels FILE (one class name per line)")
    if args.bundle and args.labels:
        raise BrainEdgeError("--labels is for --model; a bundle carries its own labels.txt")
    if args.explain is not None:
        if args.model:
            raise BrainEdgeError("--explain needs a --bundle with a head (a bare --model has no class-activation maps)")
        check_output_folder(args.explain)
        watched = args.watch is not None
        check_overlays_apart(args.explain, [args.watch] if watched else args.paths, watched)
    check_threads(args.threads, "--threads")
    if args.threshold is not None:
        check_number("--threshold", args.threshold, 0, 1)
    for name in ("top_k", "max_images"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise BrainEdgeError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.decode_workers is not None and not 0 <= args.decode_workers <= MAX_DECODE_WORKERS:
        raise BrainEdgeError(f"--decode-workers must be between 0 and {MAX_DECODE_WORKERS}, got {args.decode_workers}")


def check_overlays_apart(out: Path, inputs: list[Path], watched: bool = False) -> None:
    """Overlays must not land among the images being classified: they would replace a scan of the same
    name, or (in a watched folder) be classified in turn, without end."""
    target = out.resolve()
    for path in inputs:
        if not path.exists():
            continue  # classifying it says "no such file", the problem to mention
        folder = path.resolve() if path.is_dir() else path.resolve().parent
        if target == folder or folder in target.parents:
            where = (
                f"inside the watched folder {shown(path)}"
                if watched
                else (f"inside {shown(path)}" if path.is_dir() else f"in the folder of {shown(path)}")
            )
            raise BrainEdgeError(
                f"--explain {shown(out)}: {where}, which is being classified; choose a folder outside the images"
            )


def load_classifier(args: argparse.Namespace) -> Classifier:
    options = ClassifierOptions(
        backend=args.backend,
        threads=args.threads,
        xnnpack=args.xnnpack,
        confidence_threshold=args.threshold,
        top_k=args.top_k,
        explain=args.explain is not None,
        decode_workers=args.decode_workers,
    )
    if args.bundle:
        return Classifier.from_bundle(args.bundle, options)
    return Classifier.from_model(
        args.model, args.labels, options, mean=tuple(args.mean), std=tuple(args.std), softmax_output=not args.logits
    )


def text_line(source: str, prediction: Prediction, timed: bool = False, overlay: str | None = None) -> str:
    """Batch output stays the same from run to run; a kiosk's lines also say how long each image took.
    With --explain, the line ends with the overlay's file."""
    verdict = prediction.label
    if prediction.out_of_distribution:
        verdict = NOT_RECOGNISED
    elif prediction.uncertain:
        verdict = UNCERTAIN
    ranked = ", ".join(f"{label} {score:.3f}" for label, score in prediction.top_k)
    latency = f"  {prediction.latency_ms:.1f} ms" if timed and prediction.latency_ms is not None else ""
    drawn = f"  -> {overlay}" if overlay else ""
    return f"{source}: {verdict}  [{ranked}]{latency}{drawn}"


def json_line(source: str, prediction: Prediction, overlay: str | None = None, explained: bool = False) -> str:
    """The record; with --explain, plus ``overlay``: the PNG's path (null when it could not be written)."""
    record = prediction.record(source)
    if explained:
        record["overlay"] = overlay
    return json.dumps(record)


class CsvWriter:
    """The prediction record as CSV: source,label,score,uncertain,ood,ood_score,latency_ms, then
    label_2,score_2 …, and with --explain a last column, overlay."""

    def __init__(self, top_k: int, num_classes: int, explained: bool = False) -> None:
        self._writer = csv.writer(sys.stdout, lineterminator="\n")
        self._explained = explained
        ranks = range(2, min(top_k, num_classes) + 1)
        self._writer.writerow(
            [
                "source",
                "label",
                "score",
                "uncertain",
                "ood",
                "ood_score",
                "latency_ms",
                *itertools.chain.from_iterable((f"label_{r}", f"score_{r}") for r in ranks),
                *(["overlay"] if explained else []),
            ]
        )

    def __call__(self, source: str, prediction: Prediction, overlay: str | None = None) -> None:
        record = prediction.record(source)
        ranked = itertools.chain.from_iterable((label, f"{score:.6f}") for label, score in prediction.top_k[1:])
        self._writer.writerow(
            [
                source,
                record["label"],
                f"{record['score']:.6f}",
                "true" if record["uncertain"] else "false",
                {None: "", True: "true", False: "false"}[record["ood"]],
                "" if record["ood_score"] is None else record["ood_score"],
                record["latency_ms"],
                *ranked,
                *([overlay or ""] if self._explained else []),
            ]
        )
        sys.stdout.flush()


Writer = Callable[[str, Prediction, Optional[str]], None]
"""Prints one image's answer: its source, the prediction and (with --explain) its overlay's path."""


def make_writer(args: argparse.Namespace, classifier: Classifier) -> Writer:
    """One printed record per classified image, in the chosen format."""
    explained = args.explain is not None
    if args.format == "csv":
        return CsvWriter(args.top_k, len(classifier.class_names), explained)
    if args.format == "json":
        return lambda source, prediction, overlay: print(json_line(source, prediction, overlay, explained), flush=True)
    timed = args.watch is not None or args.camera is not None
    return lambda source, prediction, overlay: print(text_line(source, prediction, timed, overlay), flush=True)


class Overlays:
    """With --explain: each answered image with its class-activation map, saved as OUT_DIR/NAME.png.

    Names follow the images' own; one already in OUT_DIR (an earlier run's, another image's) is never
    replaced: NAME-2.png and so on. Each PNG names its source and answer in its text chunks.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.taken = {path.name for path in folder.iterdir()} if folder.is_dir() else set()
        self.failures = 0

    def save(self, name: object, prediction: Prediction) -> str | None:
        """Draw on the image as the classifier decoded it (``prediction.pixels``): the file is not read
        again. Returns the overlay's path as printed, None when it could not be written (said on stderr)."""
        # Imported here: Pillow's font module is resident memory that a process drawing nothing need not carry.
        from brainedge.edge_runtime.explain import overlay, png_bytes

        try:
            drawn = overlay(prediction.pixels, prediction.class_map, caption(prediction))
            data = png_bytes(drawn, source=str(name), answer=caption(prediction))
            self.folder.mkdir(parents=True, exist_ok=True)
            while True:
                path = self.folder / self.name_for(Path(str(name)).stem)
                try:
                    write_atomically(path, data, replace=False)
                    return shown(path)
                except FileExistsError:
                    continue  # written meanwhile (another run, another program): the next free name
        except (BrainEdgeError, OSError) as error:
            self.failures += 1
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            print(f"error: {shown(name)}: classified, but its overlay was not written ({reason})", file=sys.stderr)
            return None

    def name_for(self, stem: str) -> str:
        stem = (stem or "image")[:200]  # room for "-N.png" and the temporary name's suffix
        name, number = f"{stem}.png", 1
        while name in self.taken:
            number += 1
            name = f"{stem}-{number}.png"
        self.taken.add(name)
        return name


def caption(prediction: Prediction) -> str:
    """What the overlay says it shows: the answer, and whether it is one."""
    answer = f"{prediction.label} {prediction.score:.3f}"
    if prediction.out_of_distribution:
        return f"not recognised (map for {answer})"
    if prediction.class_map is not None and not prediction.class_map.any():
        answer += ", nothing in the map"
    return f"uncertain: {answer}" if prediction.uncertain else answer


def report(results: Iterable[tuple[object, Result]], write: Writer, overlays: Overlays | None = None) -> int:
    """Save each answer's overlay, then print the answer (so a printed answer's overlay is on disk); a
    bad file is named on stderr and the run goes on. Returns the images that could not be classified."""
    failures = 0
    for name, result in results:
        if isinstance(result, BrainEdgeError):
            failures += 1
            print(f"error: {result}", file=sys.stderr, flush=True)
            continue
        drawn = overlays.save(name, result) if overlays is not None else None
        write(shown(name), result, drawn)
    return failures


def kiosk_frames(args: argparse.Namespace, stop: threading.Event) -> Frames:
    """The watched folder's or the camera's frames, until ``stop`` is set."""
    if args.watch is not None:
        return folder_frames(args.watch, args.interval, args.include_existing, stop)
    return camera_frames(args.camera, args.interval, args.camera_index, stop)


def kiosk_results(
    classifier: Classifier, frames: Frames, args: argparse.Namespace, stop: threading.Event
) -> Iterator[tuple[str, Result]]:
    """Each new frame or settled file, classified as it arrives (the next ones decoded meanwhile).

    The stream sets ``stop`` as it ends, which ends the frames' wait for the next one; they are closed
    (camera released) after that, once the decode workers have stopped.
    """
    try:
        yield from classifier.classify_many(itertools.islice(frames, args.max_images), stop=stop)
    finally:
        frames.close()


def overlays_for(args: argparse.Namespace) -> Overlays | None:
    """With --explain, where overlays go (a bundle that cannot draw class maps was refused when loaded)."""
    return None if args.explain is None else Overlays(args.explain)


def run(args: argparse.Namespace) -> int:
    check_args(args)
    if args.watch is not None or args.camera is not None:
        classifier = load_classifier(args)
        stop_like_ctrl_c(signal.SIGTERM)  # systemd's stop
        overlays = overlays_for(args)
        stop = threading.Event()
        try:  # from the first frame on: the source's thread may say "watching" before report() starts
            results = kiosk_results(classifier, kiosk_frames(args, stop), args, stop)
            failures = report(results, make_writer(args, classifier), overlays)
        except KeyboardInterrupt:
            return 0  # the normal way to stop a kiosk
        return 1 if failures or (overlays and overlays.failures) else 0
    classifier = load_classifier(args)  # a wrong --bundle is the first thing said, not the last
    files, empty = collect_files(args.paths)
    for problem in empty:
        print(f"error: {problem}", file=sys.stderr)
    if not files:
        raise BrainEdgeError("nothing to classify: " + ", ".join(shown(path) for path in args.paths))
    files = files[: args.max_images]
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    overlays = overlays_for(args)
    answers = classifier.classify_many(files, progress)
    failures = report(answers, make_writer(args, classifier), overlays)
    failures += len(empty)
    if failures:
        print(f"error: {failures} file(s) or folder(s) could not be classified (listed above)", file=sys.stderr)
    if overlays and overlays.failures:
        print(f"error: {overlays.failures} overlay(s) could not be written (listed above)", file=sys.stderr)
    return 1 if failures or (overlays and overlays.failures) else 0


def main(argv: list[str] | None = None) -> int:
    return report_user_errors(run, build_parser().parse_args(argv))
