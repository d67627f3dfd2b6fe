"""Pure ASGI middleware: a request that the server cancels (its shutdown's grace period ran out)
is answered 503 and logged in one line, instead of reaching the server as a CancelledError (which
uvicorn logs with a traceback, then answers 500)."""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_api.errors import ServiceUnavailable, problem_response
from todo_api.middleware.request_id import path_template, request_id_of

# The same words as the answer the server writes itself when no application answers (server.py).
CANCELLED_DETAIL = (
    "The server is shutting down: the request was cancelled and nothing was written; retry"
)

log = logging.getLogger("todo_api.server")


class CancelledRequestMiddleware:
    """Inside RequestIdMiddleware: the 503 carries the request's id, and its access line says 503.

    Only the cancellation of the request's own task is answered: a CancelledError raised inside
    the application by a cancel scope of its own (anyio's, asyncio.timeout) is not this, and
    propagates. The request's transaction is rolled back by Database.run, which saw the same
    cancellation first.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        response_started = False

        async def send_tracked(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or not task.cancelling():
                raise
            # Handled here, once: the answer below must not be cancelled in turn.
            task.uncancel()
            log.info(
                "request cancelled at shutdown",
                extra={
                    "method": scope["method"],
                    "path": path_template(scope),
                    "request_id": request_id_of(scope),
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                },
            )
            if not response_started:  # else only the connection's end can tell the client
                await problem_response(ServiceUnavailable(CANCELLED_DETAIL))(scope, receive, send)
