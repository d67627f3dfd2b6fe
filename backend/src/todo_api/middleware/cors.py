"""CORS by Starlette's CORSMiddleware logic, without its layer (called by middleware.pipeline):
preflights answered (a refused one as problem+json), every other response decorated."""

from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from todo_api.errors import CorsPreflightRefused, problem_response

_ORIGIN = b"origin"
# What the plain-text refusal carried that a problem+json body replaces.
_BODY_HEADERS = frozenset({"content-type", "content-length"})


async def _not_a_layer(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("Cors holds CORSMiddleware's logic; it is never called as a layer")


class Cors:
    def __init__(
        self,
        *,
        allow_origins: Collection[str],
        allow_methods: Collection[str],
        allow_headers: Collection[str],
        expose_headers: Collection[str],
        allow_credentials: bool,
        max_age: int,
    ) -> None:
        # Starlette's policy object: its preflight checks and headers, computed once.
        self.policy = CORSMiddleware(
            _not_a_layer,
            allow_origins=allow_origins,
            allow_methods=allow_methods,
            allow_headers=allow_headers,
            expose_headers=expose_headers,
            allow_credentials=allow_credentials,
            max_age=max_age,
        )

    def preflight(self, scope: Scope, origin: str | None) -> Response | None:
        """The answer to a preflight (CORS answers it before authentication: it carries no
        token), or None for any other request."""
        if origin is None or scope["method"] != "OPTIONS":
            return None
        headers = Headers(scope=scope)
        if "access-control-request-method" not in headers:
            return None
        response = self.policy.preflight_response(request_headers=headers)
        if response.status_code == 200:
            return response
        # Starlette says "Disallowed CORS origin, method" as text/plain; keep its words and its
        # headers (never an Access-Control-Allow-Origin for a refused origin).
        problem = problem_response(CorsPreflightRefused(bytes(response.body).decode()))
        for name, value in response.headers.items():
            if name not in _BODY_HEADERS:
                problem.headers[name] = value
        return problem

    def decorate(self, headers: MutableHeaders, origin: str | None) -> None:
        """What CORSMiddleware.send does to every other response's start, error answers included
        (Starlette 1.10; unit/test_cors.py holds the two to the same result)."""
        policy = self.policy
        if origin is not None:
            headers.update(policy.simple_headers)
            # An allowed origin is mirrored; with "*", only when credentials are allowed.
            if (
                policy.allow_credentials
                if policy.allow_all_origins
                else policy.is_allowed_origin(origin=origin)
            ):
                policy.allow_explicit_origin(headers, origin)
                return
        headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])


def origin_of(scope: Scope) -> str | None:
    """The request's first `Origin` header, as Starlette's Headers.get reads it."""
    name: bytes
    value: bytes
    for name, value in scope["headers"]:
        if name == _ORIGIN:
            return value.decode("latin-1")
    return None
