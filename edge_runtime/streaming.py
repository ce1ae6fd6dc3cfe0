"""Decode the next images while the interpreter answers this one.

Classifying a folder one image after another leaves every core but one idle while a JPEG is
decoded and preprocessed, then every core but the interpreter's while the model runs.
``prefetch`` runs the part that needs no interpreter (``Engine.prepare``) for the next
images on a few worker threads and hands the results back in input order, so the caller's
thread, the only one that touches the interpreter, finds the next image ready. Pillow's
decoders and numpy's loops over whole arrays release the GIL, so the workers do run beside it.

Memory stays bounded whatever the source's length: at most ``AHEAD_PER_WORKER`` items per worker
are taken from the source and not yet handed back. The source is pulled by a feeder thread, so
an endless one (a watched folder, camera frames) never holds an answer back while it waits for
its next frame; the stream's ``stop`` event tells such a source when to stop waiting.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from brainedge.edge_runtime.errors import BrainEdgeError

Item = TypeVar("Item")
Ready = TypeVar("Ready")

AHEAD_PER_WORKER = 2
"""Items a decode worker may hold: one being prepared, one prepared and waiting for the interpreter."""
MAX_DECODE_WORKERS = 32
"""More threads than this cannot help on the devices the runtime is for; they would only hold memory."""


def usable_cores() -> int:
    """Cores this process may run on (a container or ``taskset`` can allow fewer than the machine has)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def automatic_workers(cores: int | None = None) -> int:
    """Decode workers when none are asked for: one core left to the interpreter, at most 4, at least 1."""
    cores = usable_cores() if cores is None else cores
    return max(1, min(4, cores - 1))


def prefetch(
    items: Iterable[Item], prepare: Callable[[Item], Ready], workers: int, stop: threading.Event | None = None
) -> Iterator[tuple[Item, Ready | BrainEdgeError]]:
    """Each item with ``prepare(item)``, or the BrainEdgeError that raised, in input order.

    ``workers`` threads prepare up to ``AHEAD_PER_WORKER * workers`` items ahead; with 0 each item is
    prepared here, when it is asked for. Any other exception (the source's too) is raised here, at its
    item's turn. Closing the generator, or an exception in the caller (Ctrl-C included), stops the
    threads before it returns: the workers once the image each is preparing is done, the feeder once
    the source's current pull returns. ``stop`` is set as the stream ends: give the same event to a
    source that waits for its next item (a watched folder, a camera), and let it end that wait then.
    """
    if not 0 <= workers <= MAX_DECODE_WORKERS:
        raise BrainEdgeError(f"decode workers must be between 0 and {MAX_DECODE_WORKERS}, got {workers}")
    stop = threading.Event() if stop is None else stop
    if workers == 0:
        try:
            for item in items:
                yield item, _attempt(prepare, item)
        finally:
            stop.set()
        return
    slots = threading.Semaphore(AHEAD_PER_WORKER * workers)
    ready: queue.SimpleQueue[tuple[Item, Future] | _End] = queue.SimpleQueue()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="brainedge-decode", initializer=_leave_signals_to_main)
    feeder = threading.Thread(
        target=_feed, args=(iter(items), prepare, pool, slots, stop, ready), name="brainedge-feeder", daemon=True
    )
    try:
        feeder.start()  # inside: a Ctrl-C while it starts, the source maybe already pulled, must stop it too
        while True:
            entry = ready.get()
            if isinstance(entry, _End):
                if entry.error is not None:
                    raise entry.error
                return
            item, future = entry
            yield item, future.result()
            slots.release()
    finally:
        stop.set()
        slots.release()  # wakes a feeder waiting for room, to see the stop
        if feeder.is_alive():  # else finished, or never started: it sees the stop before pulling the source
            feeder.join()
        pool.shutdown(cancel_futures=True)


@dataclass(frozen=True)
class _End:
    """The last entry of the queue: the source is exhausted, or raised ``error``."""

    error: BaseException | None = None


def _feed(
    items: Iterator[Item],
    prepare: Callable[[Item], Ready],
    pool: ThreadPoolExecutor,
    slots: threading.Semaphore,
    stop: threading.Event,
    ready: queue.SimpleQueue,
) -> None:
    """The feeder thread: whenever there is room, take the next item, start preparing it and queue it."""
    _leave_signals_to_main()
    try:
        while True:
            slots.acquire()
            if stop.is_set():
                return
            item = next(items)
            ready.put((item, pool.submit(_attempt, prepare, item)))
    except StopIteration:
        ready.put(_End())
    except BaseException as error:  # whatever ends the source reaches the caller, who would wait forever otherwise
        ready.put(_End(error))


def _leave_signals_to_main() -> None:
    """Block Ctrl-C and SIGTERM in this thread, so the kernel delivers them to the main thread.

    Python runs signal handlers in the main thread only, and a signal the kernel hands to another
    thread does not wake a main thread that waits for the next image: the kiosk would not stop.
    """
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


def _attempt(prepare: Callable[[Item], Ready], item: Item) -> Ready | BrainEdgeError:
    """A bad image is a value in the stream, not the end of it."""
    try:
        return prepare(item)
    except BrainEdgeError as error:
        return error
