"""Loads the shared fixtures (backend/tests/fixtures/api.py) for backend and contract tests, marks
the contract tests `contract` (with the modules marked `unit`, what `make quick` runs), and orders
the run so that a parallel one (`make test`: pytest-xdist) ends soon after its longest test.

pytest-xdist hands tests to its workers in collection order, one at a time, each worker holding
the one it runs and the next. A run in parallel lasts at least as long as its longest test, and
longer when that test starts last: the tests that drive real processes (a server, Node, a
browser, a Schemathesis run, a nested pytest) go first, the many short in-process ones fill the
workers' gaps after. The longest ones alternate with others, so that no worker is handed two of
them at the start. The order within each rank is kept.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["fixtures.api"]

# Marks of tests that spend their time on other processes; modules whose tests are long without
# such a mark (stateful Schemathesis in-process, the suite run again under junk settings, the
# ownership package's quick start in a fresh venv and its runs until a flaw is found: collected
# last, they made the run's last minutes, research F6).
_SLOW_MARKS = ("e2e", "node", "server", "interop", "pooler")
SLOW_MODULES = (
    "contract_tests/test_schemathesis_cli.py",
    "contract_tests/test_schemathesis.py",
    "backend/tests/project/test_environment.py",
    "packages/schemathesis-ownership/tests/test_readme.py",
    "packages/schemathesis-ownership/tests/test_lists_fixture.py",
)
ROOT = Path(__file__).resolve().parent
CONTRACT_TESTS = ROOT / "contract_tests"


def _rank(item: pytest.Item) -> int:
    """The modules' order, then the marked tests, then the rest."""
    module = item.path.relative_to(ROOT).as_posix()
    if module in SLOW_MODULES:
        return SLOW_MODULES.index(module)
    if any(item.get_closest_marker(mark) is not None for mark in _SLOW_MARKS):
        return len(SLOW_MODULES)
    return len(SLOW_MODULES) + 1


def pytest_itemcollected(item: pytest.Item) -> None:
    if item.path.is_relative_to(CONTRACT_TESTS):
        item.add_marker("contract")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)
    longest = [item for item in items if _rank(item) < len(SLOW_MODULES)]
    others = items[len(longest) :]
    alternated = [item for pair in zip(longest, others, strict=False) for item in pair]
    items[:] = alternated + longest[len(others) :] + others[len(longest) :]
