"""middleware/cors.py: preflights need no token and expose the headers; no CORS headers unless
origins are set."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from fixtures.api import make_settings
from todo_api.main import create_app

pytestmark = pytest.mark.anyio


async def test_cors_preflight_needs_no_token_and_exposes_headers(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, CORS_ORIGINS="http://localhost:3000"))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        preflight = await client.options(
            "/api/alice/tasks",
            headers={
                "Origin": "http://localhost:3000",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed
        assert "content-type" in allowed
        # A browser client may write safely: the conditional and idempotency headers pass.
        safe = await client.options(
            "/api/alice/tasks/1",
            headers={
                "Origin": "http://localhost:3000",
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "authorization, if-match, idempotency-key",
            },
        )
        assert safe.status_code == 200, safe.text
        for header in ("if-match", "if-none-match", "idempotency-key"):
            assert header in safe.headers["access-control-allow-headers"].lower()

        actual = await client.get("/api/me", headers={"Origin": "http://localhost:3000"})
        assert actual.status_code == 401
        exposed = actual.headers["access-control-expose-headers"].lower()
        for header in ("location", "server-timing", "x-request-id", "etag", "idempotent-replayed"):
            assert header in exposed

        stranger = await client.options(
            "/api/alice/tasks",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in stranger.headers
        assert stranger.status_code == 400
        assert stranger.headers["content-type"] == "application/problem+json"
        assert stranger.json() == {
            "type": "urn:todo-api:problem:cors-preflight-refused",
            "title": "Bad Request",
            "status": 400,
            "detail": "Disallowed CORS origin",
        }


async def test_cors_preflight_allows_head_wherever_get_is_answered(tmp_path: Path) -> None:
    """HEAD is answered on every GET route (the probes and lists): a page on an allowed origin
    may send it, and a method the API never answers is still refused."""
    app = create_app(make_settings(tmp_path, CORS_ORIGINS="http://localhost:3000"))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        origin = {"Origin": "http://localhost:3000"}
        for path in ("/api/alice/tasks", "/api/alice/tasks/1", "/healthz"):
            head = await client.options(
                path, headers={**origin, "Access-Control-Request-Method": "HEAD"}
            )
            assert head.status_code == 200, (path, head.text)
            assert "HEAD" in head.headers["access-control-allow-methods"].split(", ")
        trace = await client.options(
            "/api/alice/tasks", headers={**origin, "Access-Control-Request-Method": "TRACE"}
        )
        assert trace.status_code == 400
        assert trace.json()["detail"] == "Disallowed CORS method"
        # And the HEAD itself, from that origin, is answered as the GET would be.
        probe = await client.head("/healthz", headers=origin)
        assert probe.status_code == 200
        assert probe.headers["access-control-allow-origin"] == "http://localhost:3000"


async def test_no_cors_headers_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"Origin": "http://localhost:3000"})
    assert "access-control-allow-origin" not in response.headers
