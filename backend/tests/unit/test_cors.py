"""middleware/cors.py: Starlette's CORS logic without its layer, held to Starlette's own result."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Message

from todo_api.middleware.cors import Cors, origin_of

POLICIES: dict[str, dict[str, Any]] = {
    "listed origins": {"allow_origins": ["http://app.example"], "allow_credentials": False},
    "listed, with credentials": {
        "allow_origins": ["http://app.example"],
        "allow_credentials": True,
    },
    "any origin": {"allow_origins": ["*"], "allow_credentials": False},
    "any, with credentials": {"allow_origins": ["*"], "allow_credentials": True},
    "none (the default)": {"allow_origins": [], "allow_credentials": False},
}
OPTIONS = {
    "allow_methods": ["GET", "POST"],
    "allow_headers": ["Authorization"],
    "expose_headers": ["ETag", "X-Request-ID"],
    "max_age": 600,
}


def _starlette(policy: dict[str, Any], origin: str | None, start: Message) -> list[Any]:
    """The headers Starlette's own middleware gives this response start."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def never(*_: object) -> None:
        raise AssertionError

    middleware = CORSMiddleware(never, **policy, **OPTIONS)
    request = Headers(raw=[(b"origin", origin.encode())] if origin else [])
    asyncio.run(middleware.send(start, send=send, request_headers=request))
    return list(sent[0]["headers"])


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("origin", [None, "http://app.example", "http://evil.example"])
@pytest.mark.parametrize("vary", [None, b"Accept"])
def test_decorate_adds_what_starlettes_cors_middleware_adds(
    policy: str, origin: str | None, vary: bytes | None
) -> None:
    def start() -> Message:
        headers = [(b"content-type", b"application/json")]
        if vary:
            headers.append((b"vary", vary))
        return {"type": "http.response.start", "status": 200, "headers": headers}

    ours = start()
    Cors(**POLICIES[policy], **OPTIONS).decorate(MutableHeaders(scope=ours), origin)
    assert ours["headers"] == _starlette(POLICIES[policy], origin, start())


def test_origin_of_reads_the_first_origin_header() -> None:
    scope = {"headers": [(b"host", b"t"), (b"origin", b"http://a"), (b"origin", b"http://b")]}
    assert origin_of(scope) == "http://a"
    assert origin_of({"headers": [(b"host", b"t")]}) is None


def test_only_an_options_request_with_a_requested_method_is_a_preflight() -> None:
    cors = Cors(**POLICIES["listed origins"], **OPTIONS)
    origin = [(b"origin", b"http://app.example")]
    asks = [(b"access-control-request-method", b"GET")]
    assert cors.preflight({"method": "OPTIONS", "headers": origin + asks}, "http://app.example")
    assert cors.preflight({"method": "OPTIONS", "headers": origin}, "http://app.example") is None
    assert cors.preflight({"method": "GET", "headers": origin + asks}, "http://app.example") is None
    assert cors.preflight({"method": "OPTIONS", "headers": asks}, None) is None
