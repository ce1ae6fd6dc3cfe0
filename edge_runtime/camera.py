"""Classify a live camera, or every new image dropped into a folder, and print each answer.

Sources, in the order ``--source auto`` tries them: the Raspberry Pi camera (picamera2),
any OpenCV camera (cv2.VideoCapture), then a folder given with ``--folder``. Each
frame prints its label, probability and latency (preprocessing + inference), so the
loop doubles as a quick on-device check. Runs until stopped, or for ``--max-frames``.

usage: python -m brainedge.edge_runtime.camera --bundle DIR [--source auto|picamera|opencv|folder]
                                     [--folder PATH] [--interval S] [--max-frames N]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import signal
import sys
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import numpy as np

from brainedge.edge_runtime.backends import BACKENDS
from brainedge.edge_runtime.classifier import UNCERTAIN, Classifier, Prediction
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import is_image_name
from brainedge.edge_runtime.preprocess import ImageSource

SOURCES = ("auto", "picamera", "opencv", "folder")
FRAME_SIZE = (640, 480)

Frame = tuple[str, ImageSource]
"""A frame's name for the printout (``frame 3`` or a file path) and its image."""
Frames = Generator[Frame, None, None]


def picamera_frames(interval: float) -> Frames:
    """The Raspberry Pi camera through picamera2 (Raspberry Pi OS: apt install python3-picamera2)."""
    try:
        from picamera2 import Picamera2
    except ImportError as error:
        raise BrainEdgeError(f"picamera2 is not usable here ({error}); on Raspberry Pi OS: "
                             "sudo apt install python3-picamera2, and a venv made with "
                             "--system-site-packages") from None
    try:
        camera = Picamera2()
    except Exception as error:  # picamera2 raises IndexError/RuntimeError when no camera is found
        raise BrainEdgeError(f"the Raspberry Pi camera could not be opened ({error})") from None
    # picamera2's "RGB888" arrays are ordered B, G, R per pixel; flipped to RGB below.
    camera.configure(camera.create_preview_configuration(main={"size": FRAME_SIZE, "format": "RGB888"}))
    camera.start()
    try:
        for index in itertools.count(1):
            yield f"frame {index}", np.ascontiguousarray(camera.capture_array("main")[..., ::-1])
            time.sleep(interval)
    finally:
        camera.stop()
        camera.close()


def opencv_frames(interval: float, camera_index: int) -> Frames:
    """A USB or built-in camera through OpenCV (pip install opencv-python-headless)."""
    try:
        import cv2
    except ImportError as error:
        raise BrainEdgeError(f"OpenCV is not usable here ({error}); "
                             "pip install opencv-python-headless") from None
    capture = cv2.VideoCapture(camera_index)
    if not capture.isOpened():
        raise BrainEdgeError(f"OpenCV camera {camera_index} could not be opened")
    capture.set(cv2.CAP_PROP_FRAME_WIDTH, FRAME_SIZE[0])
    capture.set(cv2.CAP_PROP_FRAME_HEIGHT, FRAME_SIZE[1])
    try:
        for index in itertools.count(1):
            ok, bgr = capture.read()
            if not ok:
                raise BrainEdgeError(f"OpenCV camera {camera_index} stopped delivering frames")
            yield f"frame {index}", np.ascontiguousarray(bgr[..., ::-1])
            time.sleep(interval)
    finally:
        capture.release()


class FolderWatcher:
    """Finds images that are new in a folder; a file counts once its size stops changing.

    The size check keeps the loop from reading a file that is still being copied in.
    A file replaced under the same name (new modification time) is classified again.
    """

    def __init__(self, folder: Path, include_existing: bool = False) -> None:
        if not folder.is_dir():
            raise BrainEdgeError(f"{folder}: folder to watch not found")
        self.folder = folder
        self._done: dict[Path, int] = {} if include_existing else self._snapshot()
        self._pending: dict[Path, int] = {}

    def _snapshot(self) -> dict[Path, int]:
        """Image files (hidden ones skipped: partial uploads often are) → modification time."""
        files = {}
        for path in self.folder.iterdir():
            if is_image_name(path):
                try:
                    files[path] = path.stat().st_mtime_ns
                except FileNotFoundError:  # deleted while we looked
                    continue
        return files

    def poll(self) -> list[Path]:
        """New, settled images since the last poll, oldest first."""
        current = self._snapshot()
        self._done = {path: mtime for path, mtime in self._done.items() if path in current}
        sizes = {path: _size(path) for path in current if self._done.get(path) != current[path]}
        ready = [path for path, size in sizes.items() if size and self._pending.get(path) == size]
        self._pending = {path: size for path, size in sizes.items() if path not in ready}
        for path in ready:
            self._done[path] = current[path]
        return sorted(ready, key=lambda path: (current[path], path.name))


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def folder_frames(folder: Path, interval: float, include_existing: bool) -> Frames:
    watcher = FolderWatcher(folder, include_existing)
    print(f"watching {folder} for new images", file=sys.stderr, flush=True)
    while True:
        for path in watcher.poll():
            yield str(path), path
        time.sleep(interval)


def choose_source(source: str, folder: Path | None) -> str:
    """Resolve ``auto``: a folder when one is given, else picamera2, else OpenCV."""
    if source != "auto":
        if source == "folder" and folder is None:
            raise BrainEdgeError("--source folder needs --folder PATH")
        if source != "folder" and folder is not None:
            raise BrainEdgeError(f"--folder cannot be combined with --source {source}")
        return source
    if folder is not None:
        return "folder"
    for name, module in (("picamera", "picamera2"), ("opencv", "cv2")):
        if importlib.util.find_spec(module) is not None:
            return name
    raise BrainEdgeError("no camera library found (picamera2 or opencv-python); "
                         "pass --folder PATH to watch a folder for new images instead")


def open_frames(source: str, args: argparse.Namespace) -> Frames:
    if source == "folder":
        return folder_frames(args.folder, args.interval, args.include_existing)
    if source == "picamera":
        return picamera_frames(args.interval)
    return opencv_frames(args.interval, args.camera_index)


def format_frame(name: str, prediction: Prediction, latency_ms: float, as_json: bool) -> str:
    if as_json:
        return json.dumps({"source": name, "label": prediction.label, "probability": prediction.score,
                           "uncertain": prediction.uncertain, "latency_ms": round(latency_ms, 2)})
    verdict = UNCERTAIN if prediction.uncertain else prediction.label
    return f"{name}: {verdict}  p={prediction.score:.3f}  {latency_ms:.1f} ms"


def classify_stream(classifier: Classifier, frames: Iterator[Frame], max_frames: int | None,
                    as_json: bool) -> int:
    """Print one line per frame; a bad file is reported and skipped, the loop goes on.

    The latency is the classifier's whole work on a frame: decoding (for files),
    preprocessing and inference.
    """
    failures = 0
    for name, image in itertools.islice(frames, max_frames):
        start = time.perf_counter()
        try:
            prediction = classifier.classify(image, top_k=1)
        except BrainEdgeError as error:
            failures += 1
            print(f"error: {error}", file=sys.stderr, flush=True)
            continue
        latency_ms = (time.perf_counter() - start) * 1000
        print(format_frame(name, prediction, latency_ms, as_json), flush=True)
    return failures


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m brainedge.edge_runtime.camera", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, required=True, help="a model bundle directory")
    parser.add_argument("--source", choices=SOURCES, default="auto",
                        help="where frames come from (default: auto = --folder if given, "
                             "else picamera2, else OpenCV)")
    parser.add_argument("--folder", type=Path, help="watch this folder for new images")
    parser.add_argument("--include-existing", action="store_true",
                        help="with --folder, also classify the images already there at start")
    parser.add_argument("--camera-index", type=int, default=0, help="OpenCV camera number (default 0)")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="seconds between frames, or between folder checks (default 1)")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--threads", type=int, default=None, help="interpreter threads")
    parser.add_argument("--backend", choices=("auto",) + BACKENDS, default="auto")
    parser.add_argument("--threshold", type=float, default=None,
                        help="confidence below which the answer is 'uncertain' (default: the bundle's)")
    parser.add_argument("--json", action="store_true", help="one JSON object per frame on stdout")
    return parser


def _stop_on_sigterm(signum: int, frame: object) -> None:
    """systemd stops services with SIGTERM: leave through the normal exit path, camera closed."""
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        if args.max_frames is not None and args.max_frames < 1:
            raise BrainEdgeError("--max-frames must be at least 1")
        source = choose_source(args.source, args.folder)
        classifier = Classifier.from_bundle(args.bundle, args.backend, args.threads,
                                            confidence_threshold=args.threshold)
        frames = open_frames(source, args)
        try:
            failures = classify_stream(classifier, frames, args.max_frames, args.json)
        finally:
            frames.close()  # releases the camera
    except BrainEdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
