"""The installed brainedge's version, looked up only when something shows it.

``importlib.metadata`` parses package metadata with the ``email`` package and brings ``zipfile``,
``csv`` and more: about 3.5 MB of resident memory that a classify process never needs unless asked
for ``--version``.
"""

from __future__ import annotations

import argparse
import sys
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def installed_version() -> str:
    """brainedge's version from its installed metadata; ``0+unknown`` for a bare source tree."""
    from importlib import metadata

    try:
        return metadata.version("brainedge")
    except metadata.PackageNotFoundError:  # a source tree on PYTHONPATH (the aarch64 probe's view)
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return installed_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


VERSION_HELP = "show program's version number and exit"
"""argparse's own wording for --version."""


class VersionAction(argparse.Action):
    """``--version``: prints ``PROG VERSION`` and exits, looking the version up only then."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, help: str = VERSION_HELP) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option: Any = None) -> None:
        sys.stdout.write(f"{parser.prog} {installed_version()}\n")  # where argparse's own version action writes
        parser.exit()
