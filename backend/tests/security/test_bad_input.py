"""Bad input gets a clear 4xx problem+json, never a 500, and nothing is written."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from fixtures.api import User, all_tasks, create_task, problem_body

pytestmark = pytest.mark.anyio

JSON = {"Content-Type": "application/json"}

BAD_CREATE_BODIES: dict[str, bytes] = {
    "invalid-json": b'{"title": ',
    "not-utf8": b'{"title": "\xff\xfe"}',
    "latin1-encoded": '{"title": "café"}'.encode("latin-1"),
    "array": b'[{"title": "x"}]',
    "string": b'"title"',
    "null": b"null",
    "empty": b"",
    "missing-title": b"{}",
    "title-number": b'{"title": 5}',
    "title-null": b'{"title": null}',
    "title-blank": b'{"title": "   "}',
    "title-only-unicode-space": json.dumps({"title": "\u3000\u00a0\t"}).encode(),
    "title-too-long": json.dumps({"title": "x" * 201}).encode(),
    "description-too-long": json.dumps({"title": "t", "description": "d" * 1001}).encode(),
    "description-number": b'{"title": "t", "description": 3}',
    "completed-string": b'{"title": "t", "completed": "true"}',
    "completed-int": b'{"title": "t", "completed": 1}',
    "unknown-field": b'{"title": "t", "owner_id": "bob"}',
    "id-field": b'{"title": "t", "id": 7}',
    # PostgreSQL text cannot hold U+0000: refused on every database, so both behave the same.
    "title-nul": b'{"title": "a\\u0000b"}',
    "description-nul": b'{"title": "t", "description": "\\u0000"}',
}


@pytest.mark.parametrize("name", list(BAD_CREATE_BODIES), ids=list(BAD_CREATE_BODIES))
async def test_bad_create_body_is_422_and_writes_nothing(
    client: httpx.AsyncClient, alice: User, name: str
) -> None:
    response = await client.post(
        "/api/alice/tasks", content=BAD_CREATE_BODIES[name], headers={**alice.headers, **JSON}
    )
    body = problem_body(response, 422)
    assert body["type"] == "urn:todo-api:problem:validation-error"
    assert await all_tasks(client, alice) == []


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("PUT", {"title": "t", "completed": True}),  # description is required on PUT
        ("PUT", {"title": "t", "description": None}),
        ("PUT", {"title": "t", "description": None, "completed": "yes"}),
        ("PATCH", {}),
        ("PATCH", {"title": None}),
        ("PATCH", {"completed": None}),
        ("PATCH", {"title": ""}),
        ("PATCH", {"nope": 1}),
        ("PATCH", {"title": "ok", "extra": True}),
    ],
    ids=repr,
)
async def test_bad_update_body_is_422_and_changes_nothing(
    client: httpx.AsyncClient, alice: User, method: str, body: dict[str, Any]
) -> None:
    task = await create_task(client, alice, "original", description="kept")
    response = await client.request(
        method, f"/api/alice/tasks/{task['id']}", json=body, headers=alice.headers
    )
    problem_body(response, 422)
    assert await all_tasks(client, alice) == [task]


async def test_title_of_exactly_200_characters_is_accepted(
    client: httpx.AsyncClient, alice: User
) -> None:
    task = await create_task(client, alice, "x" * 200, description="d" * 1000)
    assert len(task["title"]) == 200


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "limit=1.5",
        "status=done",
        "status=",
        "cursor=",
        "cursor=!!!",
        "cursor=abc",
        "cursor=0",
        "cursor=-5",
        "cursor=012",
        "cursor=" + "1" * 20,
    ],
)
async def test_bad_list_query_is_422(client: httpx.AsyncClient, alice: User, query: str) -> None:
    response = await client.get(f"/api/alice/tasks?{query}", headers=alice.headers)
    problem_body(response, 422)


@pytest.mark.parametrize("task_id", ["abc", "1.5", "0", "-3", "9223372036854775808", "1e3"])
async def test_bad_task_id_is_422(client: httpx.AsyncClient, alice: User, task_id: str) -> None:
    response = await client.get(f"/api/alice/tasks/{task_id}", headers=alice.headers)
    problem_body(response, 422)


async def test_largest_task_id_is_a_plain_404(client: httpx.AsyncClient, alice: User) -> None:
    response = await client.get("/api/alice/tasks/9223372036854775807", headers=alice.headers)
    problem_body(response, 404)


async def test_validation_error_names_the_field_without_echoing_input(
    client: httpx.AsyncClient, alice: User
) -> None:
    secret_looking = "s3cr3t-" + "x" * 300
    response = await client.post(
        "/api/alice/tasks", json={"title": secret_looking}, headers=alice.headers
    )
    body = problem_body(response, 422)
    assert body["errors"][0]["loc"] == ["body", "title"]
    assert secret_looking not in response.text


@pytest.mark.parametrize(
    "body",
    [
        {"title": "t", "k" * 5000: 1},
        {"title": "t", **{f"extra-{i}": i for i in range(500)}},
    ],
    ids=["unknown-key-of-5000-chars", "500-unknown-keys"],
)
async def test_validation_errors_stay_within_the_contracts_bounds(
    client: httpx.AsyncClient, alice: User, body: dict[str, Any]
) -> None:
    """Found by Schemathesis: an unknown key is echoed in `loc`, which the contract bounds."""
    response = await client.post("/api/alice/tasks", json=body, headers=alice.headers)
    errors = problem_body(response, 422)["errors"]
    assert 1 <= len(errors) <= 100
    for error in errors:
        assert error["type"] == "extra_forbidden"
        assert all(len(part) <= 200 for part in error["loc"])
    assert await all_tasks(client, alice) == []
