"""Owner named in the body (`PUT /profile {"username": …}`) or the query (`GET
/profiles?username=…`), declared with `x-owner` (ownership_fixtures/profiles.py): the correct
API passes, each broken variant is caught, read back through `GET /profile` as the owner."""

from __future__ import annotations

import pytest

from ownership_fixtures import profiles
from ownership_fixtures.runs import ours_on

CAUGHT = {
    profiles.BODY_NAMES_WHO_IS_WRITTEN: (
        "on PUT /profile naming",
        "in the body",
        "and the owner's data changed: ['GET /profile']",
    ),
    profiles.WRITE_BEHIND_VALIDATION: (
        "got 200 on PUT /profile naming",
        "and the owner's data changed: ['GET /profile']",
    ),
    profiles.QUERY_NAMES_WHO_IS_READ: (
        "on GET /profiles naming",
        "in the query",
        "and read the owner's data",
    ),
}


def test_the_correct_profiles_pass() -> None:
    assert ours_on("profiles", None) == ""


@pytest.mark.parametrize("flaw", profiles.FLAWS)
def test_each_broken_profiles_api_is_caught(flaw: str) -> None:
    found = ours_on("profiles", flaw)
    assert "`cross_user_isolation`" in found, found or "nothing found"
    for message in CAUGHT[flaw]:
        assert message in found, found
