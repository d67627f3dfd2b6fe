"""The headers the middleware layers add, on every answer (their own 401, 413, 429 and preflights
included), in one order: the answer's own, then RateLimit, Server-Timing, CORS, the request id and
the hardening headers. A change to the layers (research P18) keeps the answers byte-compatible.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.api import asgi_client, make_settings, mint, running_app

pytestmark = pytest.mark.anyio

ORIGIN = {"Origin": "http://app.example"}
LIMITS = ["ratelimit-policy", "ratelimit"]
CORS = ["access-control-expose-headers", "access-control-allow-origin", "vary"]
API_TAIL = ["x-request-id", "x-content-type-options", "cache-control"]
BODY = ["content-length", "content-type"]  # every answer with a body, JSON or problem+json
PREFLIGHT = [
    "vary",
    "access-control-allow-methods",
    "access-control-max-age",
    "access-control-allow-headers",
]


async def test_each_answer_carries_its_layers_headers_in_the_same_order(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        RATE_LIMIT="2/minute",
        RATE_LIMIT_AUTH_FAILURES="1/minute",
        MAX_BODY_BYTES="100",
        CORS_ORIGINS=ORIGIN["Origin"],
    )
    alice = {**ORIGIN, "Authorization": f"Bearer {mint('alice')}"}
    json_body = {**alice, "Content-Type": "application/json"}
    async with running_app(settings) as app, asgi_client(app) as client:
        answers = {
            "served": await client.get("/api/alice/tasks", headers=alice),
            "413": await client.post("/api/alice/tasks", content=b"x" * 101, headers=json_body),
            "429": await client.get("/api/alice/tasks", headers=alice),
            "401": await client.get("/api/alice/tasks", headers=ORIGIN),
            "throttled": await client.get("/api/alice/tasks", headers=ORIGIN),
            "preflight": await client.options(
                "/api/alice/tasks", headers={**ORIGIN, "Access-Control-Request-Method": "GET"}
            ),
            "public": await client.get("/healthz"),
        }
    names = {key: [name.decode() for name, _ in r.headers.raw] for key, r in answers.items()}
    statuses = {key: r.status_code for key, r in answers.items()}
    refusal = ["retry-after", *LIMITS, *BODY]  # a 429 carries its own RateLimit fields

    assert statuses == {
        "served": 200,
        "413": 413,
        "429": 429,
        "401": 401,
        "throttled": 429,
        "preflight": 200,
        "public": 200,
    }
    assert names["served"] == [*BODY, *LIMITS, "server-timing", *CORS, *API_TAIL]
    assert names["413"] == [*BODY, *LIMITS, "server-timing", *CORS, *API_TAIL]
    assert names["429"] == [*refusal, "server-timing", *CORS, *API_TAIL]
    assert names["401"] == [
        "www-authenticate",
        *BODY,
        *LIMITS,
        "server-timing",
        *CORS,
        *API_TAIL,
    ]
    assert names["throttled"] == [*refusal, "server-timing", *CORS, *API_TAIL]
    assert names["preflight"] == [*PREFLIGHT, "access-control-allow-origin", *BODY, *API_TAIL]
    assert names["public"] == [*BODY, "vary", "x-request-id", "x-content-type-options"]
