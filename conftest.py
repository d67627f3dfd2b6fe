"""Loads the shared fixtures (backend/tests/api_fixtures.py) for backend and contract tests, and
orders the run so that a parallel one (`make test`: pytest-xdist) ends soon after its longest
test.

pytest-xdist hands tests to its workers in collection order, one at a time, each worker holding
the one it runs and the next. A run in parallel lasts at least as long as its longest test, and
longer when that test starts last: the tests that drive real processes (a server, Node, a
browser, a Schemathesis run, a nested pytest) go first, the many short in-process ones fill the
workers' gaps after. The longest ones alternate with others, so that no worker is handed two of
them at the start. The order within each rank is kept.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["api_fixtures"]

# Marks of tests that spend their time on other processes; modules whose tests are long without
# such a mark (stateful Schemathesis in-process, the suite run again under junk settings).
_SLOW_MARKS = ("e2e", "node", "server", "interop", "pooler")
_SLOW_MODULES = ("test_schemathesis_cli.py", "test_schemathesis.py", "test_environment.py")


def _rank(item: pytest.Item) -> int:
    """The modules' order, then the marked tests, then the rest."""
    if item.path.name in _SLOW_MODULES:
        return _SLOW_MODULES.index(item.path.name)
    if any(item.get_closest_marker(mark) is not None for mark in _SLOW_MARKS):
        return len(_SLOW_MODULES)
    return len(_SLOW_MODULES) + 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)
    longest = [item for item in items if _rank(item) < len(_SLOW_MODULES)]
    others = items[len(longest) :]
    alternated = [item for pair in zip(longest, others, strict=False) for item in pair]
    items[:] = alternated + longest[len(others) :] + others[len(longest) :]
