"""One interpreter per bundle, used by a single thread, behind a fixed number of places.

A request takes a place before its body is read and keeps it until its answer is ready, so the
uploads, decoded images and answers in flight for a bundle never exceed ``places``: one more is
refused at once (``Busy``, HTTP 503) instead of growing memory. Decoding and preprocessing
(``Engine.prepare``) run in the request's own thread, overlapping with inference; only
``Engine.answer`` runs on the interpreter's thread, so the interpreter is never used by two
threads at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass

from brainedge.edge_runtime.engine import Engine, Prediction, Prepared


class Busy(Exception):
    """Every place of a bundle is taken."""


@dataclass(frozen=True)
class _Job:
    future: Future[Prediction]
    prepared: Prepared
    top_k: int
    explain: bool


class InterpreterWorker:
    """A bundle's engine, the one thread that runs its interpreter, and the places in front of it."""

    def __init__(self, name: str, engine: Engine, places: int) -> None:
        self.name = name
        self.engine = engine
        self.places = places
        self._free = threading.BoundedSemaphore(places)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()  # at most ``places`` jobs: each holds one
        self._thread = threading.Thread(target=self._run, name=f"interpreter {name}", daemon=True)
        self._thread.start()

    @property
    def draws_maps(self) -> bool:
        """Class-activation maps are exact for a head of one dense layer, and refused otherwise."""
        head = self.engine.head
        return head is not None and len(head.spec.layers) == 1

    @contextmanager
    def place(self) -> Iterator[None]:
        """Hold one of the places for the ``with`` block; ``Busy`` when none is free."""
        if not self._free.acquire(blocking=False):
            raise Busy(f"{self.places} image(s) already in hand for {self.name}")
        try:
            yield
        finally:
            self._free.release()

    def answer(self, prepared: Prepared, top_k: int, explain: bool) -> Future[Prediction]:
        """``Engine.answer`` on the interpreter's thread; call it while holding a place."""
        future: Future[Prediction] = Future()
        self._jobs.put(_Job(future, prepared, top_k, explain))
        return future

    def close(self) -> None:
        """Finish the jobs already queued, then stop the thread."""
        self._jobs.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            if not job.future.set_running_or_notify_cancel():
                continue  # its request is gone
            try:
                job.future.set_result(self.engine.answer(job.prepared, job.top_k, job.explain))
            except Exception as error:  # handed to the request, which reports it
                job.future.set_exception(error)
