"""User-facing errors: the CLIs print these as one line, never a traceback."""

from __future__ import annotations

import sys
from typing import Callable, TypeVar

T = TypeVar("T")


class BrainEdgeError(Exception):
    """Bad input the user can fix: a corrupt image, a wrong model, a missing label file."""


def report_user_errors(command: Callable[[T], int], args: T) -> int:
    """Run a CLI command: a BrainEdgeError becomes one ``error:`` line and exit status 2."""
    try:
        return command(args)
    except BrainEdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
