"""The root conftest.py's order: a parallel run hands out its longest tests first, alternating with
the tests that wait on other processes, so that the run does not end on one of them (research F1,
F6)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _root_conftest(config: pytest.Config) -> ModuleType:
    for plugin in config.pluginmanager.get_plugins():
        if isinstance(plugin, ModuleType) and plugin.__file__ == str(ROOT / "conftest.py"):
            return plugin
    raise LookupError("the root conftest.py is not loaded")


def test_every_test_of_a_long_module_is_handed_out_among_the_first(
    request: pytest.FixtureRequest,
) -> None:
    """In whatever this session collected: the k-th test of a long module is handed out at
    place 2k at the latest (first, alternating with the others)."""
    slow_modules = _root_conftest(request.config).SLOW_MODULES
    items = request.session.items
    places = [
        place
        for place, item in enumerate(items)
        if item.path.relative_to(ROOT).as_posix() in slow_modules
    ]
    late = [(k, place) for k, place in enumerate(places) if place > 2 * k]
    assert not late, f"long tests handed out late (k, place): {late[:5]}"


def test_the_ownership_packages_quick_start_and_lists_runs_count_as_long(
    request: pytest.FixtureRequest,
) -> None:
    """Collected last (the package's tests come after the service's), these were the last
    minutes of a run: a fresh venv's quick start and runs until each planted flaw is found."""
    slow_modules = _root_conftest(request.config).SLOW_MODULES
    package = "packages/schemathesis-ownership/tests"
    assert f"{package}/test_readme.py" in slow_modules
    assert f"{package}/test_lists_fixture.py" in slow_modules
