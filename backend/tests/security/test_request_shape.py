"""Every part of a request is as strict as its body: unknown or repeated query parameters, bodies
that are not JSON or not wanted, trailing slashes and `/` (routing.py; HEAD in
middleware/test_head.py).

Each test goes through both the planned path of the task routes and FastAPI's own handler where
the two differ (tasks/planned.py).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fixtures.api import User, all_tasks, create_task

pytestmark = pytest.mark.anyio

PROBLEM = "application/problem+json"


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:todo-api:problem:{slug}"
    return body


def named(body: dict[str, Any]) -> list[list[str]]:
    return [error["loc"] for error in body["errors"]]


# Query parameters


@pytest.mark.parametrize(
    "path",
    ["/api/alice/tasks", "/api/alice/tasks/1", "/api/me", "/healthz", "/readyz", "/"],
)
async def test_unknown_query_parameter_is_422_naming_it(
    client: httpx.AsyncClient, alice: User, path: str
) -> None:
    response = await client.get(path, params={"order": "title"}, headers=alice.headers)
    body = problem(response, 422, "validation-error")
    assert named(body) == [["query", "order"]]
    assert body["errors"][0]["type"] == "extra_forbidden"


async def test_unknown_query_parameter_on_a_write_is_422_and_writes_nothing(
    client: httpx.AsyncClient, alice: User
) -> None:
    response = await client.post(
        "/api/alice/tasks?owner=bob", json={"title": "x"}, headers=alice.headers
    )
    assert named(problem(response, 422, "validation-error")) == [["query", "owner"]]
    assert await all_tasks(client, alice) == []


@pytest.mark.parametrize(
    "query", ["limit=5&limit=50", "status=pending&status=completed", "cursor=1&cursor=2"]
)
async def test_repeated_single_valued_parameter_is_422_naming_it(
    client: httpx.AsyncClient, alice: User, query: str
) -> None:
    response = await client.get(f"/api/alice/tasks?{query}", headers=alice.headers)
    body = problem(response, 422, "validation-error")
    assert named(body) == [["query", query.split("=")[0]]]
    assert body["errors"][0]["type"] == "repeated_parameter"


async def test_declared_query_parameters_still_pass(client: httpx.AsyncClient, alice: User) -> None:
    await create_task(client, alice, "a")
    response = await client.get("/api/alice/tasks?status=pending&limit=5", headers=alice.headers)
    assert response.status_code == 200, response.text
    assert [task["title"] for task in response.json()["items"]] == ["a"]


async def test_many_unknown_parameters_are_named_up_to_a_bound(
    client: httpx.AsyncClient, alice: User
) -> None:
    query = "&".join(f"p{i}={'x' * 300}" for i in range(50))
    response = await client.get(f"/api/alice/tasks?{query}&{'n' * 500}=1", headers=alice.headers)
    body = problem(response, 422, "validation-error")
    assert len(body["errors"]) == 20
    assert all(len(part) <= 200 for loc in named(body) for part in loc)


# Media types


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
async def test_body_that_is_not_json_is_415_and_writes_nothing(
    client: httpx.AsyncClient, alice: User, content_type: str
) -> None:
    response = await client.post(
        "/api/alice/tasks",
        content=b'{"title": "x"}',
        headers={**alice.headers, "Content-Type": content_type},
    )
    problem(response, 415, "unsupported-media-type")
    assert await all_tasks(client, alice) == []


async def test_body_without_content_type_is_415(client: httpx.AsyncClient, alice: User) -> None:
    task = await create_task(client, alice, "a")
    response = await client.patch(
        f"/api/alice/tasks/{task['id']}", content=b'{"title": "b"}', headers=alice.headers
    )
    problem(response, 415, "unsupported-media-type")


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/Merge-Patch+JSON"],
)
async def test_json_media_types_are_accepted(
    client: httpx.AsyncClient, alice: User, content_type: str
) -> None:
    response = await client.post(
        "/api/alice/tasks",
        content=b'{"title": "x"}',
        headers={**alice.headers, "Content-Type": content_type},
    )
    assert response.status_code == 201, response.text


# The toggle takes no body


@pytest.mark.parametrize("body", [b'{"completed": false}', b'{"completed": true}', b"{}"])
async def test_toggle_with_a_body_is_422_and_toggles_nothing(
    client: httpx.AsyncClient, alice: User, body: bytes
) -> None:
    task = await create_task(client, alice, "a")
    response = await client.patch(
        f"/api/alice/tasks/{task['id']}/complete",
        content=body,
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert named(problem(response, 422, "validation-error")) == [["body"]]
    assert (await all_tasks(client, alice))[0]["completed"] is False


async def test_toggle_without_a_body_still_toggles(client: httpx.AsyncClient, alice: User) -> None:
    task = await create_task(client, alice, "a")
    response = await client.patch(f"/api/alice/tasks/{task['id']}/complete", headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.json()["completed"] is True


# HEAD


# Trailing slashes and the index


@pytest.mark.parametrize("path", ["/api/alice/tasks/", "/healthz/", "/api/me/"])
async def test_trailing_slash_is_404_without_a_redirect(
    client: httpx.AsyncClient, alice: User, path: str
) -> None:
    response = await client.get(path, headers={**alice.headers, "Host": "evil.example"})
    problem(response, 404, "not-found")
    assert "location" not in response.headers


async def test_index_links_to_the_docs_relatively(client: httpx.AsyncClient) -> None:
    response = await client.get("/", headers={"Host": "evil.example"})
    assert response.status_code == 200
    assert response.json() == {"docs": "/docs", "redoc": "/redoc", "openapi": "/openapi.json"}
    assert "evil" not in response.text


async def test_unknown_and_repeated_parameters_are_named_together(
    client: httpx.AsyncClient, alice: User
) -> None:
    response = await client.get(
        "/api/alice/tasks?order=title&limit=1&limit=2", headers=alice.headers
    )
    body = problem(response, 422, "validation-error")
    assert named(body) == [["query", "order"], ["query", "limit"]]
    assert [error["type"] for error in body["errors"]] == ["extra_forbidden", "repeated_parameter"]
