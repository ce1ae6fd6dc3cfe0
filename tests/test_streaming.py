"""Decoding ahead of the interpreter (edge_runtime/streaming.py): the same answers as one image at a time,
in order, with bounded memory, the interpreter on the caller's thread only, and no thread left behind."""

from __future__ import annotations

import shutil
import signal
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from brainedge.edge_runtime import streaming
from brainedge.edge_runtime.classifier import Classifier, ClassifierOptions, Prediction
from brainedge.edge_runtime.engine import Engine
from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.streaming import AHEAD_PER_WORKER, automatic_workers, prefetch

WAIT_S = 10.0
"""How long a test waits for an event before it calls the stream stuck (never reached when it works)."""


def comparable(result: Prediction | BrainEdgeError, source: Path) -> dict[str, Any] | str:
    """An answer without its timings (they differ from run to run), or the error's message."""
    if isinstance(result, BrainEdgeError):
        return str(result)
    return {**result.record(str(source)), "latency_ms": None, "timings_ms": None}


def good_and_bad_files(bundles: Path, folder: Path) -> list[Path]:
    """The tiny bundles' images with a truncated PNG, a text file, a gray image and a missing file among them."""
    folder.mkdir()
    paths = []
    for index, image in enumerate(sorted((bundles / "images").rglob("*.png"))):
        paths.append(Path(shutil.copy(image, folder / f"{index:02d}_{image.parent.name}.png")))
    truncated = paths[0].read_bytes()
    (folder / "03_truncated.png").write_bytes(truncated[: len(truncated) // 2])
    (folder / "07_notes.png").write_text("not an image")
    Image.open(paths[1]).convert("L").save(folder / "09_gray.png")
    paths[3:3] = [folder / "03_truncated.png"]
    paths[7:7] = [folder / "07_notes.png", folder / "nope.png"]
    return [*paths, folder / "09_gray.png"]


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_decode_workers_give_the_records_of_one_image_at_a_time(bundles: Path, tmp_path: Path, workers: int) -> None:
    paths = good_and_bad_files(bundles, tmp_path / "scans")

    def answers(decode_workers: int) -> list[tuple[Path, Any]]:
        options = ClassifierOptions(top_k=2, explain=True, decode_workers=decode_workers)
        stream = Classifier.from_bundle(bundles / "int8_head", options).classify_many(paths)
        return [(path, comparable(result, path), getattr(result, "class_map", None)) for path, result in stream]

    one_at_a_time, ahead = answers(0), answers(workers)
    assert [row[:2] for row in ahead] == [row[:2] for row in one_at_a_time]
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(ahead, one_at_a_time) if a[2] is not None)
    errors = [record for _, record, _ in ahead if isinstance(record, str)]
    assert len(errors) == 3 and all(record.startswith(str(tmp_path / "scans")) for record in errors)
    assert [path for path, _, _ in ahead] == paths


def test_order_is_kept_when_a_later_image_is_ready_first() -> None:
    """Every even item waits until the odd one after it is prepared, so they finish out of order."""
    prepared = {index: threading.Event() for index in range(12)}
    finished: list[int] = []

    def prepare(index: int) -> int:
        if index % 2 == 0:
            assert prepared[index + 1].wait(WAIT_S), "the next item was never prepared beside this one"
        finished.append(index)
        prepared[index].set()
        return index * 10

    out = list(prefetch(range(12), prepare, workers=2))
    assert finished != sorted(finished)  # they did finish out of order
    assert out == [(index, index * 10) for index in range(12)]


@pytest.mark.parametrize("workers", [1, 3])
def test_no_more_than_two_images_per_worker_are_in_flight(workers: int) -> None:
    pulled, consumed, in_flight = [0], [0], []

    def source() -> Iterator[int]:
        for index in range(40):
            pulled[0] += 1
            in_flight.append(pulled[0] - consumed[0])
            yield index

    for _ in prefetch(source(), lambda index: index, workers):
        time.sleep(0.002)  # a slow interpreter, so the feeder runs as far ahead as it may
        consumed[0] += 1
    assert max(in_flight) == AHEAD_PER_WORKER * workers


def test_the_interpreter_runs_on_the_callers_thread_only(bundles: Path) -> None:
    engine = Engine.from_bundle(bundles / "int8")
    interpreter_threads, prepare_threads = set(), set()
    real_run, real_prepare = engine.backend.run, engine.prepare

    def run(batch: np.ndarray) -> np.ndarray:
        interpreter_threads.add(threading.get_ident())
        return real_run(batch)

    def prepare(image: Any, *args: Any) -> Any:
        prepare_threads.add(threading.get_ident())
        return real_prepare(image, *args)

    engine.backend.run, engine.prepare = run, prepare
    answers = list(Classifier(engine, ClassifierOptions(decode_workers=3)).classify_many(bundles / "images"))
    assert len(answers) == 12 and all(isinstance(result, Prediction) for _, result in answers)
    assert interpreter_threads == {threading.get_ident()}
    assert prepare_threads and threading.get_ident() not in prepare_threads


@pytest.mark.parametrize("explain", [False, True])
def test_images_wait_for_the_interpreter_as_their_tensor_alone_unless_explained(bundles: Path, explain: bool) -> None:
    engine = Engine.from_bundle(bundles / "int8_head")
    waited, real_answer = [], engine.answer

    def answer(prepared: Any, top_k: int = 3, explain: bool = False) -> Prediction:
        waited.append(prepared)
        return real_answer(prepared, top_k, explain)

    engine.answer = answer
    classifier = Classifier(engine, ClassifierOptions(explain=explain, decode_workers=2))
    answers = list(classifier.classify_many(bundles / "images"))
    assert len(waited) == len(answers) == 12
    assert all((prepared.pixels.size > 0) == explain for prepared in waited)
    image = bundles / "images" / "red" / "0.png"
    assert np.array_equal(engine.prepare(image, keep_pixels=False).tensor, engine.prepare(image).tensor)


def test_closing_the_stream_early_stops_every_thread(bundles: Path) -> None:
    before = set(threading.enumerate())
    classifier = Classifier.from_bundle(bundles / "int8", ClassifierOptions(decode_workers=3))
    stream = classifier.classify_many(bundles / "images")
    next(stream), next(stream)
    assert len(set(threading.enumerate()) - before) >= 2  # a feeder and decode workers were running
    stream.close()
    assert set(threading.enumerate()) == before


def test_an_error_in_preparing_reaches_the_caller_and_stops_every_thread() -> None:
    before = set(threading.enumerate())

    def prepare(index: int) -> int:
        if index == 5:
            raise RuntimeError("a bug, not a bad image")
        return index

    seen = []
    with pytest.raises(RuntimeError, match="a bug"):
        for index, _ in prefetch(range(100), prepare, workers=2):
            seen.append(index)
    assert seen == [0, 1, 2, 3, 4]
    assert set(threading.enumerate()) == before


def test_ctrl_c_while_waiting_for_a_frame_stops_every_thread(bundles: Path) -> None:
    before = set(threading.enumerate())
    classifier = Classifier.from_bundle(bundles / "int8", ClassifierOptions(decode_workers=2))
    image = bundles / "images" / "red" / "0.png"
    main = threading.get_ident()
    answered = threading.Semaphore(0)

    def camera() -> Iterator[tuple[str, Path]]:
        for index in range(1_000_000):
            time.sleep(0.01)  # frames come at their own pace; Ctrl-C lands while the caller waits for one
            yield f"frame {index}", image

    def press_ctrl_c() -> None:
        for _ in range(3):
            answered.acquire(timeout=WAIT_S)
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=press_ctrl_c).start()
    frames = 0
    with pytest.raises(KeyboardInterrupt):
        for _ in classifier.classify_many(camera()):
            frames += 1
            answered.release()
    assert frames >= 3
    assert set(threading.enumerate()) == before


def test_a_source_waiting_for_its_next_item_is_told_to_stop_when_the_stream_closes() -> None:
    before = set(threading.enumerate())
    stop, waiting = threading.Event(), threading.Event()
    ended_by_stop = []

    def watched_folder() -> Iterator[str]:
        yield "first.png"
        waiting.set()
        ended_by_stop.append(stop.wait(WAIT_S))  # nothing new arrives

    stream = prefetch(watched_folder(), str.upper, workers=1, stop=stop)
    assert next(stream) == ("first.png", "FIRST.PNG")
    assert waiting.wait(WAIT_S)
    stream.close()
    assert ended_by_stop == [True]
    assert set(threading.enumerate()) == before


def test_ctrl_c_while_the_feeder_starts_stops_it_before_the_stream_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kiosk stopped as it starts (SIGTERM just after "watching") closes its source next: the feeder
    must be done with it by then, or closing it raises "generator already executing" instead."""
    before = set(threading.enumerate())
    stop, pulled = threading.Event(), threading.Event()

    def watched_folder() -> Iterator[str]:
        pulled.set()  # the feeder is pulling the source...
        stop.wait(WAIT_S)
        yield from ()

    class InterruptedAsItStarts(threading.Thread):
        def start(self) -> None:
            super().start()
            assert pulled.wait(WAIT_S)
            raise KeyboardInterrupt  # ...when Ctrl-C lands on the caller, still in Thread.start

    fake = types.SimpleNamespace(Thread=InterruptedAsItStarts, Event=threading.Event, Semaphore=threading.Semaphore)
    monkeypatch.setattr(streaming, "threading", fake)
    source = watched_folder()
    with pytest.raises(KeyboardInterrupt):
        next(prefetch(source, str.upper, workers=1, stop=stop))
    source.close()
    assert stop.is_set() and set(threading.enumerate()) == before


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_an_endless_source_gets_each_answer_before_its_next_frame(bundles: Path, workers: int) -> None:
    """A kiosk: the next frame comes only after the previous answer is out, and must not be waited for."""
    classifier = Classifier.from_bundle(bundles / "int8", ClassifierOptions(top_k=1, decode_workers=workers))
    images = sorted((bundles / "images").rglob("*.png"))
    answered = [threading.Event() for _ in images]
    answer_came_first = []

    def camera() -> Iterator[tuple[int, Path]]:
        for index, image in enumerate(images):
            if index > 0:
                answer_came_first.append(answered[index - 1].wait(WAIT_S))
            yield index, image

    labels = []
    for index, result in classifier.classify_many(camera()):
        labels.append(result.label)
        answered[index].set()
    assert answer_came_first == [True] * (len(images) - 1)
    assert labels == [image.parent.name for image in images]


def test_a_source_that_fails_raises_after_the_items_before_it() -> None:
    def watched_folder() -> Iterator[int]:
        yield from range(3)
        raise BrainEdgeError("inbox: the watched folder is gone")

    seen = []
    with pytest.raises(BrainEdgeError, match="the watched folder is gone"):
        for index, _ in prefetch(watched_folder(), lambda index: index, workers=2):
            seen.append(index)
    assert seen == [0, 1, 2]


def test_a_bad_image_is_a_value_and_the_stream_goes_on() -> None:
    def prepare(index: int) -> int:
        if index == 1:
            raise BrainEdgeError("scan_1.jpg: corrupt or truncated image")
        return index

    out = list(prefetch(range(3), prepare, workers=1))
    assert out[0] == (0, 0) and out[2] == (2, 2)
    assert isinstance(out[1][1], BrainEdgeError) and str(out[1][1]) == "scan_1.jpg: corrupt or truncated image"


@pytest.mark.parametrize("workers", [-1, 33])
def test_a_worker_count_out_of_range_is_refused(workers: int) -> None:
    with pytest.raises(BrainEdgeError, match=f"decode workers must be between 0 and 32, got {workers}"):
        next(prefetch(range(3), lambda index: index, workers))


@pytest.mark.parametrize("cores, workers", [(1, 1), (2, 1), (4, 3), (5, 4), (64, 4)])
def test_automatic_workers_leave_a_core_to_the_interpreter(cores: int, workers: int) -> None:
    assert automatic_workers(cores) == workers
