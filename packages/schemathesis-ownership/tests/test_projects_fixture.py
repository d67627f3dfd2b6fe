"""Owner implied by the token, three levels deep (ownership_fixtures/projects.py: projects, their
lists, the lists' items, each owned through its parent; a body pattern FastAPI checks before the
owner check): the correct app passes, each broken level is caught, and a write hole hidden behind
the 422 of a changed body is caught with the owner's own body."""

from __future__ import annotations

import pytest

from ownership_fixtures import projects
from ownership_fixtures.runs import ours_on

ITEM = "/projects/{project_id}/lists/{list_id}/items/{item_id}"
CAUGHT = {
    projects.ITEM_SKIPS_OWNER: (f"another user's GET of {ITEM}", "the owner's object"),
    projects.LIST_SKIPS_OWNER: ("another user's GET of /projects/{project_id}/lists/{list_id}",),
    projects.ITEM_WRITE_SKIPS_OWNER: (
        f"of {ITEM}",
        "the owner's own body",
        "and it changed the owner's object",
    ),
}


def test_the_correct_projects_pass() -> None:
    assert ours_on("projects", None) == ""


@pytest.mark.parametrize("flaw", projects.FLAWS)
def test_each_broken_level_is_caught(flaw: str) -> None:
    found = ours_on("projects", flaw)
    assert "`token_owned_isolation`" in found, found or "nothing found"
    for message in CAUGHT[flaw]:
        assert message in found, found
