"""The bench's own tests: its measuring sticks checked against the product they measure.

They import bench modules as `make bench` runs them (bench/ on the path), build the product
through its public API only, and need none of the bench's own dependencies (requirements/
bench.lock: matplotlib, py-spy), so that `make test` runs them as a suite of their own. They
borrow the product suite's `User` and `ArgumentsOnly` (backend/tests/fixtures/api.py) rather than
keep copies; the product's tests never import the bench.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from fixtures.api import ArgumentsOnly
from todo_api.settings import Settings

BENCH = Path(__file__).resolve().parents[1]
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The product as the bench's server runs it: the bench's secret, a SQLite file."""
    from common import SECRET

    values: dict[str, Any] = {
        "BETTER_AUTH_SECRET": SECRET,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'tasks.db'}",
    }
    return ArgumentsOnly(**values)
