"""middleware/body_limit.py: a body over the limit is 413, sent whole or streamed, and nothing is
written."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from fixtures.api import User, all_tasks, problem_body

pytestmark = pytest.mark.anyio


JSON = {"Content-Type": "application/json"}


async def test_body_over_64_kib_is_413_and_writes_nothing(
    client: httpx.AsyncClient, alice: User
) -> None:
    big = json.dumps({"title": "t", "description": "d" * 70_000}).encode()
    response = await client.post("/api/alice/tasks", content=big, headers={**alice.headers, **JSON})
    body = problem_body(response, 413)
    assert body["type"] == "urn:todo-api:problem:payload-too-large"
    assert body["detail"] == "The request body exceeds 65536 bytes"
    assert await all_tasks(client, alice) == []


async def test_streamed_body_over_the_limit_is_413(client: httpx.AsyncClient, alice: User) -> None:
    async def chunks() -> Any:
        for _ in range(20):
            yield b"x" * 8192  # no Content-Length: the limit is counted while reading

    response = await client.post(
        "/api/alice/tasks", content=chunks(), headers={**alice.headers, **JSON}
    )
    body = problem_body(response, 413)
    assert body["type"] == "urn:todo-api:problem:payload-too-large"
    assert body["detail"] == "The request body exceeds 65536 bytes"
