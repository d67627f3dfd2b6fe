"""Owner in the path, percent-encoded (`/users/alice%40example.com/notes`), with opaque session
tokens given as a fixed set of users, UUID ids, offset/limit pages, 401s without a challenge and
errors carrying a timestamp and a request id (ownership_fixtures/notes.py): both correct
variants pass (one serves the token's user whatever the path says), each broken one is caught."""

from __future__ import annotations

import re

import pytest

from ownership_fixtures import notes
from ownership_fixtures.runs import ours_on

# The leak shows on whichever of the item's operations Schemathesis reports first (GET or PUT).
CAUGHT: dict[str, tuple[str | re.Pattern[str], ...]] = {
    notes.LIST_WITHOUT_OWNER_FILTER: ("another user's list shows the owner's Note objects",),
    notes.NOTE_BY_ID_ALONE: (
        "another user's Note answered 200 to GET /users/{email}/notes/{note_id}, a missing one 404",
    ),
    notes.WRITE_BY_ID_ALONE: (
        "another user's Note answered 200 to PUT /users/{email}/notes/{note_id}",
        "the owner's data changed after another user's requests",
    ),
    notes.FOREIGN_NOTE_SAYS_SO: (
        re.compile(
            r"another user's Note differs from a missing one on (GET|PUT|PATCH|DELETE) "
            r"/users/\{email\}/notes/\{note_id\}"
        ),
    ),
}


@pytest.mark.parametrize("variant", notes.CORRECT, ids=["correct", "ignores-path-owner"])
def test_the_correct_notes_pass(variant: str | None) -> None:
    assert ours_on("notes", variant) == ""


@pytest.mark.parametrize("flaw", notes.FLAWS)
def test_each_broken_notes_api_is_caught(flaw: str) -> None:
    found = ours_on("notes", flaw)
    assert "`cross_user_isolation`" in found, found or "nothing found"
    for message in CAUGHT[flaw]:
        if isinstance(message, re.Pattern):
            assert message.search(found), found
        else:
            assert message in found, found
