"""How report.md writes a figure and a table, and the symbols its cells share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DRIFT_FLAG = "⚠"
"""Marks a row or ratio its interleaved phase flagged (drift, throttling, other busy processes)."""


def fmt(value: Any, scale: float = 1.0, digits: int = 2) -> str:
    """``value * scale`` with ``digits`` decimals; "–" for none."""
    if value is None:
        return "–"
    return f"{value * scale:.{digits}f}"


def text(value: Any) -> str:
    return "–" if value is None else str(value)


def table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
    """A Markdown table; a "|" inside a cell is escaped."""
    rendered = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rendered += ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in lines]
    return "\n".join(rendered) + "\n"
