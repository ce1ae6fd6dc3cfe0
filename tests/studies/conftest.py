"""The studies' tests: marked ``study`` so that the fast subset can leave them out.

The studies (benchmarks/studies/) are the lab beside the product: scripts a clone runs, not in the
wheel. CI still runs their tests; ``-m "not slow and not study"`` is the product's fast subset.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.study)
