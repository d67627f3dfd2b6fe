"""middleware/cancellation.py: the request task cancelled (by the server's shutdown) is answered
503 and logged once; any other CancelledError is not ours to answer."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from starlette.types import Message, Receive, Scope, Send

from todo_api.middleware.cancellation import CANCELLED_DETAIL, CancelledRequestMiddleware
from todo_api.scope import REQUEST_ID_KEY

pytestmark = [pytest.mark.unit, pytest.mark.anyio]


def _scope() -> Scope:
    return {
        "type": "http",
        "method": "POST",
        "path": "/api/alice/tasks",
        "headers": [],
        "state": {REQUEST_ID_KEY: "rid-1"},
    }


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _run(app: CancelledRequestMiddleware, *, cancel: bool) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    task = asyncio.create_task(app(_scope(), _receive, send))
    await asyncio.sleep(0.01)  # the request is under way
    if cancel:
        task.cancel()
    await task
    return sent


async def _stuck(scope: Scope, receive: Receive, send: Send) -> None:
    await asyncio.Event().wait()  # a database that never answers


async def test_a_cancelled_request_is_answered_503_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="todo_api.server")
    sent = await _run(CancelledRequestMiddleware(_stuck), cancel=True)

    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 503
    assert (b"content-type", b"application/problem+json") in sent[0]["headers"]
    assert json.loads(sent[1]["body"])["detail"] == CANCELLED_DETAIL
    [record] = [r for r in caplog.records if r.msg == "request cancelled at shutdown"]
    assert (record.method, record.path, record.request_id) == ("POST", "/api/alice/tasks", "rid-1")  # type: ignore[attr-defined]


async def test_a_request_whose_answer_has_begun_is_not_answered_twice() -> None:
    async def half_answered(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.Event().wait()

    sent = await _run(CancelledRequestMiddleware(half_answered), cancel=True)

    assert [m["type"] for m in sent] == ["http.response.start"]


async def test_a_cancelled_error_from_inside_the_application_is_not_answered() -> None:
    async def inner_scope(scope: Scope, receive: Receive, send: Send) -> None:
        raise asyncio.CancelledError  # as a cancel scope of the application's own would

    with pytest.raises(asyncio.CancelledError):
        await _run(CancelledRequestMiddleware(inner_scope), cancel=False)
