"""A minimal in-process ASGI client: no sockets, no HTTP parsing, so the app's own cost shows."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message


async def call(
    app: ASGIApp,
    method: str,
    path: str,
    *,
    token: str | None = None,
    query: str = "",
    body: bytes = b"",
) -> tuple[int, bytes]:
    headers = [(b"host", b"bench"), (b"content-length", str(len(body)).encode())]
    if token is not None:
        headers.append((b"authorization", b"Bearer " + token.encode()))
    if body:
        headers.append((b"content-type", b"application/json"))
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def timed(app: ASGIApp, method: str, path: str, **kwargs: Any) -> float:
    """Seconds for one request; raises unless the answer is 2xx."""
    started = time.perf_counter()
    status, body = await call(app, method, path, **kwargs)
    elapsed = time.perf_counter() - started
    if not 200 <= status < 300:
        raise RuntimeError(f"{method} {path} -> {status}: {body[:200]!r}")
    return elapsed
