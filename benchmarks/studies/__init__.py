"""One-off measurement studies: each writes its record under benchmarks/results/.

They sit on top of every layer (training, export, runtime, the benchmark harness) and are not
part of the product's command-line tools; run each as ``python -m brainedge.benchmarks.studies.NAME``.
"""

import json
import os
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHECKOUT = Path(__file__).resolve().parents[2]
"""The repository these studies run from (they measure a checkout, not an installed wheel)."""
SHARED = Path(os.environ.get("BRAINEDGE_SHARED") or CHECKOUT.parent / "shared")
"""The real data, ImageNet weights and reference models beside the checkout (developers and CI only);
``BRAINEDGE_SHARED`` points elsewhere, as for benchmarks/mri_224.sh."""


def study_command(module: str, argv: list[str] | None) -> str:
    """How a study was run, as its record quotes it (``argv`` None: this process's own arguments)."""
    given = sys.argv[1:] if argv is None else argv
    return shlex.join(["python", "-m", f"brainedge.benchmarks.studies.{module}", *given])


STUDY_RECORD_START = re.compile(rb'\A\s*\{\s*"command"\s*:\s*"')


def is_study_record(head: bytes) -> bool:
    """A study's JSON record, as ``write_record`` writes it: an object whose first key is its command
    (another tool's JSON with a "command" further in, such as VS Code's tasks.json, is not)."""
    return STUDY_RECORD_START.match(head) is not None


def record_paths(out: Path, suffixes: tuple[str, ...] = (".json", ".md")) -> dict[str, Path]:
    """``--out PATH``'s files, the suffix added (``recipes_0.2`` stays whole), refused at once, before
    any measuring, when a folder on the way is a file or when one exists and is not an earlier record
    of a study (``--out README`` would replace README.md)."""
    # Imported here: the resident-memory study measures what importing numpy and the runtime costs.
    from brainedge.edge_runtime.errors import BrainEdgeError
    from brainedge.edge_runtime.files import check_replaceable

    if not out.name or out.name in (".", ".."):
        raise BrainEdgeError(f"--out {str(out)!r} names no file: give a path without its suffix, e.g. results/study")
    for folder in out.parents:
        if folder.exists() and not folder.is_dir():
            raise BrainEdgeError(f"{folder}: not a directory (in --out {out})")
    paths = {suffix: out.with_name(out.name + suffix) for suffix in suffixes}
    record = paths[".json"]
    check_replaceable(record, is_study_record, "a study's record")
    earlier_record = record.is_file() and record.stat().st_size > 0
    for path in paths.values():
        if path != record:
            why = f"a study's output (no study record {record.name} beside it)"
            check_replaceable(path, lambda _: earlier_record, why)
    return paths


def write_record(
    outputs: dict[str, Path],
    result: dict[str, Any],
    render: Callable[[dict[str, Any]], str],
    more: dict[str, bytes] | None = None,
) -> None:
    """A study's record: its JSON, its Markdown (also printed) and ``more`` files by suffix (plots),
    put in place as a set: an interrupted study leaves its earlier record whole, not a new JSON beside
    an old plot."""
    # Imported here: the resident-memory study measures what importing numpy and the runtime costs.
    from brainedge.edge_runtime.files import write_outputs

    # a path's bytes that are not UTF-8 shown as \xNN, as ``files.shown`` shows them everywhere else
    text = render(result).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    files = {".json": (json.dumps(result, indent=1) + "\n").encode("ascii"), ".md": text.encode(), **(more or {})}
    write_outputs({outputs[suffix]: data for suffix, data in files.items()})
    print(text)
