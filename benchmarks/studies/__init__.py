"""One-off measurement studies: each writes its record under benchmarks/results/.

They sit on top of every layer (training, export, runtime, the benchmark harness) and are not
part of the product's command-line tools; run each as ``python -m brainedge.benchmarks.studies.NAME``.
"""

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHECKOUT = Path(__file__).resolve().parents[2]
"""The repository these studies run from (they measure a checkout, not an installed wheel)."""
SHARED = CHECKOUT.parent / "shared"
"""The real data, ImageNet weights and reference models beside the checkout (developers and CI only)."""


def study_command(module: str, argv: list[str] | None) -> str:
    """How a study was run, as its record quotes it (``argv`` None: this process's own arguments)."""
    given = sys.argv[1:] if argv is None else argv
    return shlex.join(["python", "-m", f"brainedge.benchmarks.studies.{module}", *given])


def write_record(outputs: dict[str, Path], result: dict[str, Any], render: Callable[[dict[str, Any]], str]) -> None:
    """A study's record: its JSON and Markdown (each written atomically), the Markdown also printed."""
    # Imported here: the resident-memory study measures what importing numpy and the runtime costs.
    from brainedge.edge_runtime.files import write_output

    text = render(result)
    write_output(outputs[".json"], (json.dumps(result, indent=1) + "\n").encode("utf-8"))
    write_output(outputs[".md"], text.encode("utf-8"))
    print(text)
