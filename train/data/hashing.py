"""Read every image once: content hash, perceptual hash, size, mode and format, or why it failed.

The perceptual hash is a 16x16 difference hash: the grayscale image shrunk (bilinear) to
17x16, one bit per horizontally adjacent pair, "is the right pixel brighter?". 256 bits
that survive re-encoding, small intensity changes and resizing, so two JPEGs of the same
slice land a few bits apart while different slices land ~100 apart.
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import multiprocessing.pool
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
from PIL import Image

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.preprocess import decode_rgb

HASH_SIZE = 16
HASH_BYTES = HASH_SIZE * HASH_SIZE // 8
HASH_NAME = f"dhash {HASH_SIZE}x{HASH_SIZE} (grayscale, bilinear)"
_POOL_MIN_IMAGES = 200
"""Below this, starting worker processes costs more than it saves."""


@dataclass(frozen=True)
class ImageInfo:
    sha256: str
    """Hash of the file bytes: equal hashes are byte-identical files."""
    num_bytes: int
    width: int = 0
    height: int = 0
    mode: str = ""
    """Pillow's mode as stored in the file: L, RGB, RGBA, I;16..."""
    format: str = ""
    dhash: bytes = b""
    error: str = ""
    """Why the file could not be read or decoded; empty when it could."""

    @property
    def ok(self) -> bool:
        return not self.error


def difference_hash(rgb: np.ndarray, size: int = HASH_SIZE) -> bytes:
    """The size x size-bit difference hash of an RGB image, packed into bytes."""
    gray = Image.fromarray(rgb).convert("L").resize((size + 1, size), Image.BILINEAR)
    pixels = np.asarray(gray, dtype=np.int16)
    return np.packbits(pixels[:, 1:] > pixels[:, :-1]).tobytes()


def inspect_image(path: Path) -> ImageInfo:
    """Everything the audit needs from one file; a bad file gives an ImageInfo with ``error``."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        return ImageInfo(sha256="", num_bytes=0, error=f"cannot read ({error.strerror or error})")
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        rgb = decode_rgb(path)
        with Image.open(io.BytesIO(data)) as header:
            mode, file_format = header.mode, header.format or ""
    except BrainEdgeError as error:
        return ImageInfo(sha256=sha256, num_bytes=len(data), error=str(error).removeprefix(f"{path}: "))
    except Exception as error:  # a malformed file can trip any decoder bug; it must not stop the audit
        return ImageInfo(sha256=sha256, num_bytes=len(data), error=f"cannot decode ({type(error).__name__}: {error})")
    return ImageInfo(
        sha256=sha256,
        num_bytes=len(data),
        width=rgb.shape[1],
        height=rgb.shape[0],
        mode=mode,
        format=file_format,
        dhash=difference_hash(rgb),
    )


class Progress:
    """A one-line counter on stderr: done/total, rate and time left, redrawn in place."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None, enabled: bool = True):
        self.total, self.label, self.enabled = total, label, enabled
        self.stream = stream or sys.stderr
        self.interval = 0.1 if self.stream.isatty() else 2.0  # a CI log gets a line every 2 s, not 10 a second
        self.start = self.last = time.monotonic()
        self.done = 0

    def update(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if self.enabled and (now - self.last >= self.interval or self.done == self.total):
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            left = (self.total - self.done) / rate if rate else 0.0
            self.stream.write(f"\r{self.label} {self.done}/{self.total} ({rate:.0f}/s, {left:.0f}s left) ")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            seconds = time.monotonic() - self.start
            self.stream.write(f"\r{self.label} {self.done}/{self.total} in {seconds:.1f}s{' ' * 20}\n")
            self.stream.flush()


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """Ctrl-C waits until the block is over, then raises as usual.

    Two parts, both needed: SIGINT is blocked in this thread, and processes started now inherit
    the block through fork and exec (a spawn worker cannot die mid-start); and the Python handler
    only records it, for the signal may be taken by another thread, whose handler would otherwise
    raise KeyboardInterrupt in the middle of starting or stopping the pool.
    """
    held: list[int] = []
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum)) if main else None
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        if main:
            signal.signal(signal.SIGINT, previous)
            if held:
                raise KeyboardInterrupt


@contextmanager
def _worker_pool(workers: int) -> Iterator[multiprocessing.pool.Pool]:
    """A spawn pool whose workers never see Ctrl-C (it reaches the whole process group) and that
    never outlives this block: started and stopped with interrupts held, so a worker is never left
    unpickling its start-up state after the parent has gone (it would print a traceback)."""
    pool = None
    try:
        with _interrupts_held():  # a Ctrl-C held here is raised once the pool exists, so it is stopped too
            # spawn, not fork: the caller may be a training process with TensorFlow's threads running.
            pool = multiprocessing.get_context("spawn").Pool(workers)
        yield pool
    finally:
        if pool is not None:
            with _interrupts_held():
                pool.terminate()
                pool.join()


def inspect_all(paths: Sequence[Path], workers: int = 2, progress: bool = True) -> list[ImageInfo]:
    """inspect_image over many files, in ``workers`` processes, in input order."""
    bar = Progress(len(paths), "hashing", enabled=progress)
    results: list[ImageInfo] = []
    if workers <= 1 or len(paths) < _POOL_MIN_IMAGES:
        for path in paths:
            results.append(inspect_image(path))
            bar.update()
    else:
        with _worker_pool(workers) as pool:
            for info in pool.imap(inspect_image, paths, chunksize=32):
                results.append(info)
                bar.update()
    bar.close()
    return results
