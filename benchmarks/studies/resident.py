"""What a classify process's resident memory is made of, step by step (run by ``overhead`` in a fresh process).

  python -m brainedge.benchmarks.studies.resident BUNDLE FOLDER THREADS|default DECODE_WORKERS

Each step loads or does one more thing a ``brainedge-classify`` process does, in its order, and records
the resident set afterwards (``VmRSS``, split into anonymous memory, the heap and arenas, and file-backed
pages: libraries' code and the memory-mapped model), plus the peak (``VmHWM``). Prints one JSON object:
the steps, and the bytes of arrays a full prefetch queue holds.
Nothing is imported before its step, so each import's cost is its own (this module imports only the
standard library at the top, and ``python -m`` loads no more than the packages' ``__init__`` files).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

STATUS = Path("/proc/self/status")


def memory() -> dict[str, float]:
    """This process's resident memory now and its peak so far, in MiB."""
    fields = {}
    for line in STATUS.read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return {"rss": fields["VmRSS"], "anonymous": fields["RssAnon"], "file": fields["RssFile"], "peak": fields["VmHWM"]}


def steps(bundle_dir: Path, folder: Path, threads: int | None, workers: int) -> list[tuple[str, Callable[[], Any]]]:
    """The steps in a classify process's order; what later steps need is kept alive in ``state``."""
    state: dict[str, Any] = {}

    def load_numpy() -> None:
        import numpy  # noqa: F401

    def load_pillow() -> None:
        from PIL import Image, ImageOps  # noqa: F401  (as the runtime does: the decoders load on first use)

    def load_runtime() -> None:
        import brainedge.edge_runtime.cli  # noqa: F401

    def load_litert() -> None:
        import ai_edge_litert.interpreter  # noqa: F401

    def open_bundle() -> None:
        from brainedge.edge_runtime.bundle import Bundle

        state["bundle"] = Bundle.open(bundle_dir)

    def load_head() -> None:
        from brainedge.edge_runtime.head import Head

        bundle = state["bundle"]
        state["head"] = Head.load(bundle.directory, bundle.metadata) if bundle.metadata.head else None

    def load_interpreter() -> None:
        from brainedge.edge_runtime.backends import load_backend
        from brainedge.edge_runtime.engine import Engine

        bundle, metadata = state["bundle"], state["bundle"].metadata
        backend = load_backend(bundle.model_path, "auto", threads)
        state["classifier"] = Engine(
            backend,
            bundle.class_names,
            metadata.input,
            metadata.output,
            metadata.confidence_threshold,
            bundle,
            state["head"],
        )

    def first_inference() -> None:
        import numpy as np

        backend = state["classifier"].backend
        backend.run(np.zeros(backend.input.shape, backend.input.dtype))

    def one_image() -> None:
        state["images"] = sorted(folder.rglob("*.jpg"))
        list(state["classifier"].stream(((path, path) for path in state["images"][:1]), decode_workers=workers))

    def classify_folder() -> None:
        for _ in state["classifier"].stream(((path, path) for path in state["images"]), decode_workers=workers):
            pass

    return [
        ("Python interpreter", lambda: None),
        ("numpy", load_numpy),
        ("Pillow", load_pillow),
        ("brainedge.edge_runtime's own modules", load_runtime),
        ("LiteRT interpreter library", load_litert),
        ("bundle opened (metadata checked, model hashed)", open_bundle),
        ("head loaded (dense layer, out-of-distribution statistics)", load_head),
        (
            f"interpreter: model, tensor arena, XNNPACK's packed weights ({threads or 'default'} thread(s))",
            load_interpreter,
        ),
        ("first inference", first_inference),
        (f"one 512 px JPEG classified: Pillow's decoders loaded, {workers} decode worker(s) started", one_image),
        (f"the folder classified with {workers} decode worker(s)", classify_folder),
    ]


def full_queue_bytes(bundle_dir: Path, folder: Path, workers: int) -> int:
    """The arrays a prefetch queue holds at its bound without --explain: the input tensors of 2 images per worker.

    Counted after the steps, so that preparing them here adds nothing to what the steps measured.
    """
    from brainedge.edge_runtime.engine import Engine
    from brainedge.edge_runtime.streaming import AHEAD_PER_WORKER

    classifier = Engine.from_bundle(bundle_dir)
    images = sorted(folder.rglob("*.jpg"))[: AHEAD_PER_WORKER * workers]
    held = [classifier.prepare(path, keep_pixels=False) for path in images]
    return sum(prepared.tensor.nbytes + prepared.pixels.nbytes for prepared in held)


def main(argv: list[str]) -> int:
    bundle, folder, workers = Path(argv[0]), Path(argv[1]), int(argv[3])
    threads = None if argv[2] == "default" else int(argv[2])
    records = []
    for name, step in steps(bundle, folder, threads, workers):
        step()
        records.append({"step": name, **memory()})
    print(json.dumps({"steps": records, "full_queue_bytes": full_queue_bytes(bundle, folder, workers)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
