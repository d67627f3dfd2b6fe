"""middleware/request_id.py: every answer carries a request id, and every request is one access log
line without the token."""

from __future__ import annotations

import logging

import httpx
import pytest

from fixtures.api import User

pytestmark = pytest.mark.anyio


async def test_request_id_is_echoed_when_sane_else_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123.trace:1"})
    assert echoed.headers["x-request-id"] == "abc-123.trace:1"
    generated = await client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    for insane in ("x" * 200, "has space", "<script>"):
        response = await client.get("/healthz", headers={"X-Request-ID": insane})
        assert response.headers["x-request-id"] != insane


async def test_401_and_404_carry_a_request_id(client: httpx.AsyncClient) -> None:
    for path in ("/api/me", "/nope"):
        assert (await client.get(path)).headers["x-request-id"]


async def test_one_access_log_line_per_request_without_the_token(
    client: httpx.AsyncClient, alice: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="todo_api")
    await client.get("/api/alice/tasks/41", headers={**alice.headers, "X-Request-ID": "req-1"})
    await client.get("/api/alice/tasks", headers={"Authorization": "Bearer bad.token.here"})
    too_large = b'{"title": "' + b"x" * 70_000 + b'"}'
    await client.post("/api/alice/tasks", content=too_large, headers=alice.headers)

    lines = [r for r in caplog.records if r.name == "todo_api.access"]
    assert len(lines) == 3
    first = lines[0].__dict__
    assert first["method"] == "GET"
    assert first["path"] == "/api/{user_id}/tasks/{task_id}"
    assert first["status"] == 404
    assert first["request_id"] == "req-1"
    assert first["user_id"] == "alice"
    assert lines[1].__dict__["status"] == 401
    assert lines[1].__dict__["user_id"] is None
    # Answered before routing, and still the template: no user id in the path field.
    assert (lines[1].__dict__["path"], lines[2].__dict__["path"]) == ("/api/{user_id}/tasks",) * 2
    assert lines[2].__dict__["status"] == 413
    assert alice.token not in caplog.text
    assert "bad.token.here" not in caplog.text
    # The text is only the message: the access line's fields are the record's attributes.
    fields = repr([vars(record) for record in caplog.records])
    assert alice.token not in fields
    assert "bad.token.here" not in fields
