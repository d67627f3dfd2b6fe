"""Owner implied by the token, three levels deep (ownership_fixtures/projects.py: projects, their
lists, the lists' items, each owned through its parent; a body pattern FastAPI checks before the
owner check): the correct app passes, each broken level is caught, and a write hole hidden behind
the 422 of a changed body is caught with the owner's own body."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from schemathesis import Response

import schemathesis_ownership as ownership
from ownership_fixtures import projects
from ownership_fixtures.runs import ours, ours_on

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


def _owner_with_an_item(flaw: str | None) -> tuple[schemathesis.Case, Response]:
    """Alice's project, list and item, then her listing of projects: the case the check judges."""
    app = projects.create_app(flaw)
    schema = ours(app.openapi(), app, ownership.Ownership(mint=projects.mint, caller="alice"))
    auth = {"Authorization": f"Bearer {projects.mint('alice')}"}

    def create(path: str, body: dict[str, Any], **values: int) -> int:
        case = schema[path]["POST"].Case(path_parameters=values, body=body, headers=auth)
        created: int = case.call().json()["id"]
        return created

    project = create("/projects", {"title": "home"})
    listed = create("/projects/{project_id}/lists", {"name": "tools"}, project_id=project)
    item = {"sku": "HAM-1", "quantity": 2}
    create("/projects/{project_id}/lists/{list_id}/items", item, project_id=project, list_id=listed)
    case = schema["/projects"]["GET"].Case(headers=auth)
    return case, case.call()


def _judged(flaw: str | None) -> str:
    case, response = _owner_with_an_item(flaw)
    try:
        ownership.token_owned_isolation(None, response, case)
    except AssertionError as found:
        return str(found)
    return ""


def test_a_listing_of_the_top_collection_reaches_the_items_two_levels_below() -> None:
    assert _judged(None) == ""
    found = _judged(projects.ITEM_SKIPS_OWNER)
    assert f"another user's GET of {ITEM} item_id=3, alice's: 200" in found, found


def test_a_write_refused_as_invalid_is_retried_with_the_owners_body_read_back_by_its_list() -> None:
    found = _judged(projects.ITEM_WRITE_SKIPS_OWNER)
    assert f"another user's PUT of {ITEM} item_id=3, alice's with the owner's own body" in found
    assert "(read back: GET /projects/{project_id}/lists/{list_id})" in found, found
