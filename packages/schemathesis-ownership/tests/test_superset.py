"""Whatever Schemathesis' built-in `object_level_authorization` (every fixture user a WFC peer)
and `ignored_auth` find on a fixture variant, this package finds too."""

from __future__ import annotations

from pathlib import Path

import pytest

from ownership_fixtures.runs import FIXTURES, built_in_on, ours_on

VARIANTS = [
    (fixture.name, variant)
    for fixture in FIXTURES.values()
    for variant in (*fixture.correct, *fixture.flaws)
]


@pytest.mark.parametrize(
    ("fixture", "variant"), VARIANTS, ids=[f"{f}-{v or 'correct'}"[:60] for f, v in VARIANTS]
)
def test_the_built_in_checks_find_nothing_this_package_misses(
    fixture: str, variant: str | None, tmp_path: Path
) -> None:
    theirs = built_in_on(fixture, variant, tmp_path)
    if theirs:
        assert ours_on(fixture, variant), f"only the built-in checks found:\n{theirs}"
