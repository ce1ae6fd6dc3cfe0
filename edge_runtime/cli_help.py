"""The help every CLI prints: its docstring as written, and each option's default.

One formatter for all the console scripts, in the contract layer so that the runtime, train, export and the
benchmark harness can all use it; the docs generator (docs/generate.py) renders defaults with the same
``format_default``, so ``--help`` and the pages say the same.
"""

from __future__ import annotations

import argparse
import copy


class DefaultsHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """RawDescriptionHelpFormatter (a docstring keeps its lines) that ends each option's help with
    "(default: X)" when the option has a default and its help does not already name it."""

    def _format_action(self, action: argparse.Action) -> str:
        if not (action.help and action.help.strip()) and shows_default(action):
            action = copy.copy(action)  # argparse prints no help line at all for an option without help
            action.help = self._get_help_string(action)
        return super()._format_action(action)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = (action.help or "").strip()
        if not shows_default(action) or "default" in text.lower():
            return action.help or ""
        # argparse %-formats help strings: a default holding "%" must not be read as a placeholder.
        shown = format_default(action.default).replace("%", "%%")
        return f"{text} (default: {shown})".lstrip()


def shows_default(action: argparse.Action) -> bool:
    """Whether an option has a default worth printing: it takes a value (not a flag such as
    ``--verbose``) and the value is not None (None means "decided at run time", which its help says)."""
    return (
        bool(action.option_strings)
        and action.nargs != 0
        and action.default is not None
        and action.default is not argparse.SUPPRESS
    )


def format_default(value: object) -> str:
    """A default as a user would type it: lists space-separated, an empty one as "none".

    Args:
        value: an argparse action's default.

    Returns:
        The text shown after "default:".
    """
    if isinstance(value, (list, tuple)):
        return " ".join(format_default(item) for item in value) if value else "none"
    return str(value)
