"""What every plot shares: its colours and line styles, and how a figure becomes PNG bytes."""

from __future__ import annotations

import io
from typing import Any

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
"""Okabe and Ito's colour-blind-safe colours (yellow last: faint on white)."""
LABEL_COLOURS = PALETTE[:-1]
"""The palette without its yellow, too faint for text."""
LINESTYLES = ("-", "--", "-.", ":")


def png(plt: Any, figure: Any) -> bytes:
    """The figure as PNG bytes, rendered in memory so that writing it is one atomic step."""
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=120)
    finally:
        plt.close(figure)
    return buffer.getvalue()


def matplotlib_at_least(plt: Any, major: int, minor: int) -> bool:
    """``vert=`` was replaced by ``orientation=`` in matplotlib 3.10."""
    version = plt.matplotlib.__version__.split(".")
    return (int(version[0]), int(version[1])) >= (major, minor)
