"""middleware/head.py: HEAD wherever GET is answered, with its headers, no body, and the same
token."""

from __future__ import annotations

import httpx
import pytest

from fixtures.api import User, create_task

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/", "/api/me", "/api/alice/tasks"])
async def test_head_answers_where_get_does_with_its_headers_and_no_body(
    client: httpx.AsyncClient, alice: User, path: str
) -> None:
    get = await client.get(path, headers=alice.headers)
    head = await client.head(path, headers=alice.headers)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == get.headers["content-length"]


async def test_head_of_a_task_carries_its_etag(client: httpx.AsyncClient, alice: User) -> None:
    task = await create_task(client, alice, "a")
    head = await client.head(f"/api/alice/tasks/{task['id']}", headers=alice.headers)
    assert head.status_code == 200
    assert head.headers["etag"] == '"1"'
    assert head.content == b""


async def test_head_needs_a_token_like_get(client: httpx.AsyncClient) -> None:
    head = await client.head("/api/alice/tasks")
    assert head.status_code == 401
    assert head.content == b""
