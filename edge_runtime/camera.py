"""Where the kiosk loop's images come from: a camera, or new files in a watched folder.

``brainedge-classify --camera`` and ``--watch FOLDER`` read frames from here: the Raspberry
Pi camera (picamera2), any OpenCV camera (cv2.VideoCapture), or a folder's new images,
each counted once it has stopped growing. Each source waits ``interval`` seconds between
frames or folder checks, and ends when its ``stop`` event is set: the kiosk pulls frames on a
thread of its own (``streaming.prefetch``), which must not stay waiting for a frame after Ctrl-C.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
import threading
from collections.abc import Generator
from pathlib import Path

import numpy as np

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import is_image_name, scan_folder, shown
from brainedge.edge_runtime.preprocess import ImageSource

CAMERAS = ("auto", "picamera", "opencv")
FRAME_SIZE = (640, 480)

Frame = tuple[str, ImageSource]
"""A frame's name for the printout (``frame 3`` or a file path) and its image."""
Frames = Generator[Frame, None, None]


def picamera_frames(interval: float, stop: threading.Event | None = None) -> Frames:
    """The Raspberry Pi camera through picamera2 (Raspberry Pi OS: apt install python3-picamera2)."""
    stop = threading.Event() if stop is None else stop
    try:
        from picamera2 import Picamera2
    except ImportError as error:
        raise BrainEdgeError(
            f"picamera2 is not usable here ({error}); on Raspberry Pi OS: "
            "sudo apt install python3-picamera2, and a venv made with "
            "--system-site-packages"
        ) from None
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
            if stop.wait(interval):
                return
    finally:
        camera.stop()
        camera.close()


def opencv_frames(interval: float, camera_index: int, stop: threading.Event | None = None) -> Frames:
    """A USB or built-in camera through OpenCV (pip install opencv-python-headless)."""
    stop = threading.Event() if stop is None else stop
    try:
        import cv2
    except ImportError as error:
        raise BrainEdgeError(f"OpenCV is not usable here ({error}); pip install opencv-python-headless") from None
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
            if stop.wait(interval):
                return
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
        self.skipped: list[str] = []
        """What the folder holds that cannot be classified, each said once; the caller empties it."""
        self._reported: set[Path] = set()
        self._done: dict[Path, int] = {} if include_existing else self._snapshot()
        self._pending: dict[Path, int] = {}

    def _snapshot(self) -> dict[Path, int]:
        """Regular image files (the one folder rule: hidden names, FIFOs and devices left out) → mtime.

        What is left out is said once, in ``skipped``: a FIFO is never opened, so never waited on.
        """
        if not self.folder.is_dir():
            raise BrainEdgeError(f"{shown(self.folder)}: the watched folder is gone")
        entries = scan_folder(self.folder)
        for path, reason in entries.problems:
            if path not in self._reported:
                self._reported.add(path)
                self.skipped.append(f"{shown(path)}: {reason}")
        files = {}
        for path in entries.files:
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
        # An empty file that stays empty is handed on too, so the loop reports it instead of waiting forever.
        ready = [path for path, size in sizes.items() if size is not None and self._pending.get(path) == size]
        self._pending = {path: size for path, size in sizes.items() if path not in ready}
        for path in ready:
            self._done[path] = current[path]
        return sorted(ready, key=lambda path: (current[path], path.name))


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def folder_frames(folder: Path, interval: float, include_existing: bool, stop: threading.Event | None = None) -> Frames:
    """The folder's new images as they settle; while none come, it waits here, until ``stop`` is set."""
    stop = threading.Event() if stop is None else stop
    watcher = FolderWatcher(folder, include_existing)
    print(f"watching {folder} for new images", file=sys.stderr, flush=True)
    while True:
        for path in watcher.poll():
            yield str(path), path
        for problem in watcher.skipped:
            print(f"error: {problem}", file=sys.stderr, flush=True)
        watcher.skipped.clear()
        if stop.wait(interval):
            return


def choose_camera(name: str) -> str:
    """Resolve ``auto``: picamera2 when it is installed, else OpenCV."""
    if name != "auto":
        return name
    for camera, module in (("picamera", "picamera2"), ("opencv", "cv2")):
        if importlib.util.find_spec(module) is not None:
            return camera
    raise BrainEdgeError(
        "no camera library found (picamera2 or opencv-python); "
        "use --watch FOLDER to classify new images in a folder instead"
    )


def camera_frames(name: str, interval: float, camera_index: int = 0, stop: threading.Event | None = None) -> Frames:
    """Frames of the chosen camera (``auto``, ``picamera`` or ``opencv``)."""
    if choose_camera(name) == "picamera":
        return picamera_frames(interval, stop)
    return opencv_frames(interval, camera_index, stop)
