"""Request bodies over a byte limit refused with 413, before any parsing (called by
middleware.pipeline).

The pipeline reads the body after authentication, so an unauthenticated request is answered 401
without its body being read. The body is buffered (it is small by definition) and replayed.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import Message, Receive, Scope

from todo_api.errors import PayloadTooLarge, problem_response


async def buffered_body(scope: Scope, receive: Receive, max_bytes: int) -> Receive | None:
    """A `receive` that replays the whole body, or None when it exceeds `max_bytes` (declared or
    sent: a body over the limit is not read to its end)."""
    declared = _content_length(scope)
    if declared is not None and declared > max_bytes:
        return None

    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            # The client went away before sending its body; let the app see that.
            return _replay(message, receive)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return _replay({"type": "http.request", "body": b"".join(chunks), "more_body": False}, receive)


def too_large(max_bytes: int) -> Response:
    return problem_response(PayloadTooLarge(f"The request body exceeds {max_bytes} bytes"))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(first: Message, receive: Receive) -> Receive:
    pending = [first]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay
