"""Pure ASGI: the product's per-request concerns as one layer, each decided by its own module.

In the order they decide: the request id wraps everything (every answer below carries it, and
every request gets its access line); CORS answers a preflight before authentication; the
authentication gate (and its failed-auth throttle, before any signature check) for `/api`; the
per-user budgets right after it, before any body is read; the body limit; then the app. One
send wrapper decorates every response start, the pipeline's own answers included, with what the
steps it passed add: RateLimit fields, Server-Timing, CORS, the request id and hardening headers
(in that order, as the five layers this replaces did; research P18).
"""

from __future__ import annotations

import time

from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_api.auth.gate import AuthGate, server_timing
from todo_api.middleware.body_limit import buffered_body, too_large
from todo_api.middleware.cors import Cors, origin_of
from todo_api.middleware.request_id import (
    REQUEST_ID_HEADER,
    hardening_headers,
    incoming_request_id,
    log_access,
    new_request_id,
)
from todo_api.ratelimit.budgets import UserBudgets
from todo_api.ratelimit.responses import rate_headers
from todo_api.scope import IDENTITY_KEY, REQUEST_ID_KEY

_SERVER_TIMING = b"server-timing"


class Pipeline:
    def __init__(
        self,
        app: ASGIApp,
        *,
        cors: Cors,
        gate: AuthGate,
        budgets: UserBudgets | None,
        max_body_bytes: int,
    ) -> None:
        self.app = app
        self.cors = cors
        self.gate = gate
        self.budgets = budgets  # None: no budget is on, nothing is charged
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = incoming_request_id(scope) or new_request_id()
        state = scope.setdefault("state", {})
        state[REQUEST_ID_KEY] = request_id
        started = time.perf_counter()
        status = 500
        origin = origin_of(scope)
        preflight = self.cors.preflight(scope, origin)
        limits: list[tuple[bytes, bytes]] = []
        timing: bytes | None = None

        async def send_decorated(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)  # a copy of the list, in the message
                headers.raw.extend(limits)
                if timing is not None:
                    headers.raw.append((_SERVER_TIMING, timing))
                if preflight is None:  # a preflight answer carries its own CORS headers
                    self.cors.decorate(headers, origin)
                headers[REQUEST_ID_HEADER] = request_id
                headers.raw.extend(hardening_headers(scope["path"]))
            await send(message)

        answer: Response | None = preflight
        try:
            if answer is None and self.gate.protects(scope["path"]):
                auth_started = time.perf_counter()
                admitted = await self.gate.admit(scope)
                timing = server_timing(auth_started)
                if isinstance(admitted, Response):
                    answer = admitted
                else:
                    state[IDENTITY_KEY] = admitted
                    if self.budgets is not None:
                        charged = await self.budgets.charge(admitted.user_id, scope["method"])
                        if isinstance(charged, Response):
                            answer = charged
                        elif charged:
                            limits = rate_headers(charged)
            if answer is None:
                body = await buffered_body(scope, receive, self.max_body_bytes)
                if body is None:
                    answer = too_large(self.max_body_bytes)
                else:
                    await self.app(scope, body, send_decorated)
            if answer is not None:
                await answer(scope, receive, send_decorated)
        finally:
            log_access(scope, status, started, request_id)
