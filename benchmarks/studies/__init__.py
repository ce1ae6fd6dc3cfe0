"""One-off measurement studies: each writes its record under benchmarks/results/.

They sit on top of every layer (training, export, runtime, the benchmark harness) and are not
part of the product's command-line tools; run each as ``python -m brainedge.benchmarks.studies.NAME``.
"""

import json
import os
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


def record_paths(out: Path, suffixes: tuple[str, ...] = (".json", ".md")) -> dict[str, Path]:
    """``--out PATH``'s files, the suffix added (``recipes_0.2`` stays whole), refused at once when a
    folder on the way is a file, before any measuring."""
    # Imported here: the resident-memory study measures what importing numpy and the runtime costs.
    from brainedge.edge_runtime.errors import BrainEdgeError

    if not out.name or out.name in (".", ".."):
        raise BrainEdgeError(f"--out {str(out)!r} names no file: give a path without its suffix, e.g. results/study")
    for folder in out.parents:
        if folder.exists() and not folder.is_dir():
            raise BrainEdgeError(f"{folder}: not a directory (in --out {out})")
    return {suffix: out.with_name(out.name + suffix) for suffix in suffixes}


def write_record(outputs: dict[str, Path], result: dict[str, Any], render: Callable[[dict[str, Any]], str]) -> None:
    """A study's record: its JSON and Markdown (each written atomically), the Markdown also printed."""
    # Imported here: the resident-memory study measures what importing numpy and the runtime costs.
    from brainedge.edge_runtime.files import write_output

    text = render(result)
    write_output(outputs[".json"], (json.dumps(result, indent=1) + "\n").encode("utf-8"))
    write_output(outputs[".md"], text.encode("utf-8"))
    print(text)
