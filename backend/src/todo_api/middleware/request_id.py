"""Pure ASGI middleware: a request id and the hardening headers on every response, and one
structured log line per request."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sized
from typing import ClassVar

from fastapi.routing import iter_route_contexts
from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_api.logs import log_request
from todo_api.scope import IDENTITY_KEY, REQUEST_ID_KEY

REQUEST_ID_HEADER = "X-Request-ID"
# Every response: browsers must not guess a content type (OWASP API8). API responses also carry
# one user's data: no cache, shared or private, may keep them.
_EVERY_RESPONSE = ((b"x-content-type-options", b"nosniff"),)
_API_RESPONSE = (*_EVERY_RESPONSE, (b"cache-control", b"no-store"))
_REQUEST_ID_NAME = REQUEST_ID_HEADER.lower().encode("latin-1")  # as ASGI spells header names
# A caller's id is reused only when it is short and plain: it lands in our logs verbatim.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class InFlight:
    """The requests the application is answering now: `count`, kept by RequestIdMiddleware (its
    outermost layer), and `server_tasks`, the server's tasks of requests (uvicorn's set, named
    by server.py's protocol; empty without it). Read by the database to decide where a read
    runs (db/transactions.py).

    Both, because the server starts the tasks of requests that arrived together one after
    another in one turn of the loop: the first of them would count itself alone before the
    others first run, while the server's set holds them all from the start. One server per
    process (each worker is a process), so the set is the class's."""

    server_tasks: ClassVar[Sized] = ()

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def alone(self) -> bool:
        """One request in flight at most: the caller's."""
        return self.count <= 1 and len(InFlight.server_tasks) <= 1


class RequestIdMiddleware:
    """`in_flight`: counts the requests under way (the database reads on the event loop only
    while one is)."""

    def __init__(self, app: ASGIApp, in_flight: InFlight | None = None) -> None:
        self.app = app
        self.in_flight = in_flight or InFlight()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = _incoming_request_id(scope) or new_request_id()
        scope.setdefault("state", {})[REQUEST_ID_KEY] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
                message["headers"] = [*message["headers"], *hardening_headers(scope["path"])]
            await send(message)

        in_flight = self.in_flight
        in_flight.count += 1
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            in_flight.count -= 1
            identity = scope["state"].get(IDENTITY_KEY)
            log_request(
                scope["method"],
                path_template(scope),
                status,
                round((time.perf_counter() - started) * 1000, 3),
                request_id,
                getattr(identity, "user_id", None),
            )


def hardening_headers(path: str) -> tuple[tuple[bytes, bytes], ...]:
    """The headers every response carries, by its path."""
    return _API_RESPONSE if path == "/api" or path.startswith("/api/") else _EVERY_RESPONSE


def request_id_of(scope: Scope) -> str | None:
    """The id RequestIdMiddleware gave this request (None outside it)."""
    request_id = scope.get("state", {}).get(REQUEST_ID_KEY)
    return request_id if isinstance(request_id, str) else None


def new_request_id() -> str:
    """128 random bits as 32 hex digits, from the process's PRNG (reseeded after a fork).

    Not uuid4: os.urandom gives up the GIL for its system call, and on a busy server the event loop
    then waits for a database thread to hand it back (research P8 measured it under load). A
    correlation id needs to be unique, not unpredictable.
    """
    return f"{random.getrandbits(128):032x}"


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _REQUEST_ID_NAME:
            candidate = value.decode("latin-1")
            return candidate if _SANE_REQUEST_ID.fullmatch(candidate) else None
    return None


def path_template(scope: Scope) -> str:
    """The route's template, not the raw path: ids stay out of log cardinality (and out of logs).

    A request answered before routing (401 by authentication, 413 by the body limit, a CORS
    preflight) has no route in its scope: the template is then looked up; a path that no route
    matches is logged as it came.
    """
    route: object = scope.get("route")
    if not isinstance(route, BaseRoute):
        # iter_route_contexts also walks the routes of included routers.
        routes = iter_route_contexts(getattr(scope.get("app"), "routes", []))
        route = next((r for r in routes if r.matches(scope)[0] is not Match.NONE), None)
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else str(scope["path"])
