"""Owner in the path: on the shopping-lists fixture (ownership_fixtures/lists: accounts' lists,
nested two levels deep, string ids, owner parameter `account`) the checks pass the correct app
and catch each broken variant, in-process, through the spec's links."""

from __future__ import annotations

import copy
import time
from typing import Any

import hypothesis
import jwt
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.schemas import BaseSchema

import schemathesis_ownership as ownership
from ownership_fixtures.lists import app as lists
from ownership_fixtures.runs import ours_on
from schemathesis_ownership import declarations_of, snapshot

LISTS = ownership.Ownership(
    mint=lambda sub: _token(sub),
    forged=lambda sub: {"expired": _token(sub, ttl=-3600), "other key": _token(sub, key="x" * 40)},
    caller="acct_alice",
    attackers=("acct_mallory", "acct_eve"),
)
# Built-in checks that judge the fixture's honesty, plus ours; the rest judge API design.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "response_schema_conformance",
    "unauthenticated_replays",
    "cross_user_isolation",
)
CONFIG = {
    "seed": 20261202,
    "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    "phases": {"stateful": {"inference": {"algorithms": []}}},
    # Generation from the spec alone: no string constants harvested from this module's source.
    "analysis": {"constants": {"enabled": False}},
}
# Scenarios through the links (create a list, put an item, read it back...). A broken variant
# stops at its first finding, so it can afford more scenarios than the correct app runs.
STATEFUL = hypothesis.settings(
    max_examples=15,
    stateful_step_count=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)
UNTIL_FOUND = hypothesis.settings(STATEFUL, max_examples=100)


def _token(sub: str, *, ttl: int = 600, key: str = lists.SECRET) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + ttl}, key, algorithm="HS256")


def _schema(flaw: str | None = None) -> BaseSchema:
    schema = schemathesis.openapi.from_dict(
        copy.deepcopy(lists.SPEC), config=SchemathesisConfig.from_dict(CONFIG)
    )
    schema.app = lists.create_app(flaw)
    ownership.bind(schema, LISTS)
    return schema


def _findings(flaw: str | None) -> str:
    """Every failure the stateful run through the links reports ("" when none)."""
    return ours_on("lists", flaw)


CORRECT = _schema()


@CORRECT.parametrize()
@hypothesis.settings(max_examples=10, derandomize=True)
def test_every_operation_of_the_correct_fixture_passes(case: schemathesis.Case) -> None:
    case.call_and_validate()


def test_the_correct_fixture_passes_stateful_runs() -> None:
    assert _findings(None) == ""


@pytest.mark.parametrize(
    ("flaw", "check", "message"),
    [
        (
            lists.FETCH_BY_ID_ALONE,
            "cross_user_isolation",
            "another user's ShoppingList/Item answered 200 to GET "
            "/api/owners/{account}/lists/{list_id}/items/{item_key}",
        ),
        (
            lists.LIST_WITHOUT_OWNER_FILTER,
            "cross_user_isolation",
            "another user's list shows the owner's ShoppingList objects",
        ),
        (
            lists.UPDATE_WRITES_ANOTHER_OWNERS_ROW,
            "cross_user_isolation",
            "the owner's data changed after another user's requests",
        ),
        (lists.EXISTENCE_LEAK_AS_403, "cross_user_isolation", "another user's ShoppingList"),
    ],
    ids=["fetch-by-id-alone", "list-without-owner-filter", "update-writes-row", "leak-as-403"],
)
def test_each_broken_fixture_is_caught(flaw: str, check: str, message: str) -> None:
    found = _findings(flaw)
    assert f"`{check}`" in found, found or "nothing found"
    assert message in found, found
    if flaw == lists.EXISTENCE_LEAK_AS_403:
        assert "answered 403" in found, found


def _problems(edit: Any) -> tuple[str, ...]:
    spec = copy.deepcopy(lists.SPEC)
    edit(spec)
    return ownership.read(spec).problems


def test_the_fixture_declarations_are_complete() -> None:
    assert ownership.read(lists.SPEC).problems == ()


def test_an_operation_without_an_owner_is_reported_as_incomplete() -> None:
    def drop_owner(spec: dict[str, Any]) -> None:
        del spec["components"]["parameters"]["Account"]["x-owner"]

    assert any("names no owner parameter" in p for p in _problems(drop_owner))


def test_an_undeclared_id_parameter_is_reported() -> None:
    def drop_id(spec: dict[str, Any]) -> None:
        del spec["components"]["parameters"]["ItemKey"]["x-resource-id"]

    assert any("item_key declares no x-resource-id" in p for p in _problems(drop_id))


def test_an_id_of_a_resource_nobody_lists_is_reported() -> None:
    def drop_listing(spec: dict[str, Any]) -> None:
        del spec["paths"]["/api/owners/{account}/lists/{list_id}/items"]["get"]["x-lists"]

    assert any("which no operation lists" in p for p in _problems(drop_listing))


def test_the_read_back_follows_pagination_and_nesting() -> None:
    schema = _schema()
    owner = "acct_pager"
    auth = {"Authorization": f"Bearer {_token(owner)}"}
    create = schema["/api/owners/{account}/lists"]["POST"].Case(
        path_parameters={"account": owner}, body={"name": "week"}, headers=auth
    )
    list_id = create.call().json()["id"]
    put = schema["/api/owners/{account}/lists/{list_id}/items/{item_key}"]["PUT"]
    for key in ("apples", "bread", "cheese", "dates", "eggs"):
        path = {"account": owner, "list_id": list_id, "item_key": key}
        put.Case(path_parameters=path, body={"text": key, "done": False}, headers=auth).call()
    taken = snapshot.take(create, declarations_of(schema.raw_schema), LISTS, owner)
    assert len(taken.objects["ShoppingList"]) == 1
    assert len(taken.objects["Item"]) == 5  # three pages of two


def test_views_that_are_not_query_mappings_are_reported() -> None:
    def bad_views(spec: dict[str, Any]) -> None:
        listing = spec["paths"]["/api/owners/{account}/lists/{list_id}/items"]["get"]
        listing["x-lists"]["views"] = ["sort=title"]

    assert any("`views` must be" in p for p in _problems(bad_views))
