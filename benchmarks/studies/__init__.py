"""One-off measurement studies: each writes its record under benchmarks/results/.

They sit on top of every layer (training, export, runtime, the benchmark harness) and are not
part of the product's command-line tools; run each as ``python -m brainedge.benchmarks.studies.NAME``.
"""

import shlex
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
"""The repository these studies run from (they measure a checkout, not an installed wheel)."""
SHARED = CHECKOUT.parent / "shared"
"""The real data, ImageNet weights and reference models beside the checkout (developers and CI only)."""


def study_command(module: str, argv: list[str] | None) -> str:
    """How a study was run, as its record quotes it (``argv`` None: this process's own arguments)."""
    given = sys.argv[1:] if argv is None else argv
    return shlex.join(["python", "-m", f"brainedge.benchmarks.studies.{module}", *given])
