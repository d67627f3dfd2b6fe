"""HTTP behaviour around the operations: errors in one shape, headers, CORS, logs, docs, probes."""

from __future__ import annotations

import gc
import json
import logging
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi import FastAPI
from sqlalchemy import create_engine

from fixtures.api import User, make_settings
from todo_api.db import Database
from todo_api.main import GC_THRESHOLDS, create_app
from todo_api.spec import spec_path
from todo_api.state import app_state
from todo_api.tasks import store
from todo_api.tasks.service import Tasks

pytestmark = pytest.mark.anyio


async def test_healthz_is_public(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_200_when_the_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


async def test_database_gone_gives_503_problem_not_500(
    app: FastAPI, client: httpx.AsyncClient, alice: User, tmp_path: Path
) -> None:
    unreachable = create_engine(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    state = app_state(app)
    state.database = Database(unreachable, threads=1)
    state.tasks = Tasks(state.database)

    ready = await client.get("/readyz")
    listing = await client.get("/api/alice/tasks", headers=alice.headers)
    created = await client.post("/api/alice/tasks", json={"title": "x"}, headers=alice.headers)

    for response in (ready, listing, created):
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "urn:todo-api:problem:service-unavailable"
        assert "Traceback" not in response.text


async def test_unknown_path_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:todo-api:problem:not-found"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/api/alice/tasks", "GET, POST"),
        ("POST", "/api/alice/tasks/1", "DELETE, GET, PATCH, PUT"),
        ("GET", "/api/alice/tasks/1/complete", "PATCH"),
        ("POST", "/api/me", "GET"),
        ("POST", "/healthz", "GET"),
    ],
)
async def test_wrong_method_is_405_with_the_full_allow_list(
    client: httpx.AsyncClient, alice: User, method: str, path: str, allow: str
) -> None:
    response = await client.request(method, path, headers=alice.headers)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.headers["content-type"] == "application/problem+json"


async def test_request_id_is_echoed_when_sane_else_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123.trace:1"})
    assert echoed.headers["x-request-id"] == "abc-123.trace:1"
    generated = await client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    for insane in ("x" * 200, "has space", "<script>"):
        response = await client.get("/healthz", headers={"X-Request-ID": insane})
        assert response.headers["x-request-id"] != insane


async def test_401_and_404_carry_a_request_id(client: httpx.AsyncClient) -> None:
    for path in ("/api/me", "/nope"):
        assert (await client.get(path)).headers["x-request-id"]


async def test_server_timing_reports_auth_time(client: httpx.AsyncClient, alice: User) -> None:
    response = await client.get("/api/me", headers=alice.headers)
    name, _, duration = response.headers["server-timing"].partition(";dur=")
    assert name == "auth"
    assert float(duration) >= 0


async def test_one_access_log_line_per_request_without_the_token(
    client: httpx.AsyncClient, alice: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="todo_api")
    await client.get("/api/alice/tasks/41", headers={**alice.headers, "X-Request-ID": "req-1"})
    await client.get("/api/alice/tasks", headers={"Authorization": "Bearer bad.token.here"})
    too_large = b'{"title": "' + b"x" * 70_000 + b'"}'
    await client.post("/api/alice/tasks", content=too_large, headers=alice.headers)

    lines = [r for r in caplog.records if r.name == "todo_api.access"]
    assert len(lines) == 3
    first = lines[0].__dict__
    assert first["method"] == "GET"
    assert first["path"] == "/api/{user_id}/tasks/{task_id}"
    assert first["status"] == 404
    assert first["request_id"] == "req-1"
    assert first["user_id"] == "alice"
    assert lines[1].__dict__["status"] == 401
    assert lines[1].__dict__["user_id"] is None
    # Answered before routing, and still the template: no user id in the path field.
    assert (lines[1].__dict__["path"], lines[2].__dict__["path"]) == ("/api/{user_id}/tasks",) * 2
    assert lines[2].__dict__["status"] == 413
    assert alice.token not in caplog.text
    assert "bad.token.here" not in caplog.text
    # The text is only the message: the access line's fields are the record's attributes.
    fields = repr([vars(record) for record in caplog.records])
    assert alice.token not in fields
    assert "bad.token.here" not in fields


async def test_openapi_json_is_the_hand_written_spec(client: httpx.AsyncClient) -> None:
    served = (await client.get("/openapi.json")).json()
    assert served == yaml.safe_load(spec_path().read_text())
    raw = await client.get("/openapi.yaml")
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("application/yaml")
    assert raw.text == spec_path().read_text()


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_use_only_local_assets(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    html = response.text
    assert "cdn." not in html
    assert "fonts.googleapis" not in html
    assets = [part.split('"')[0] for part in html.split('"/static-offline-docs/')[1:]]
    assert assets
    for asset in assets:
        fetched = await client.get(f"/static-offline-docs/{asset}")
        assert fetched.status_code == 200, asset
        assert len(fetched.content) > 100


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


async def test_every_response_is_nosniff_and_api_responses_are_never_cached(
    app: FastAPI, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        api = [
            await client.get("/api/alice/tasks", headers=alice.headers),
            await client.get("/api/alice/tasks"),  # 401
            await client.get("/api/bob/tasks", headers=alice.headers),  # 403
        ]
        public = [await client.get(path) for path in ("/healthz", "/openapi.json", "/docs")]
        monkeypatch.setattr(store, "_list_rows", explode)
        crashed = await client.get("/api/alice/tasks", headers=alice.headers)  # 500
    for response in [*api, *public, crashed]:
        assert response.headers["x-content-type-options"] == "nosniff", response.url
    for response in [*api, crashed]:
        assert response.headers["cache-control"] == "no-store", response.status_code
    assert all("no-store" not in r.headers.get("cache-control", "") for r in public)


async def test_no_cors_headers_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"Origin": "http://localhost:3000"})
    assert "access-control-allow-origin" not in response.headers


async def test_unexpected_error_is_a_500_problem_without_internals(
    app: FastAPI, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr(store, "_list_rows", explode)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/api/alice/tasks", headers=alice.headers)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "internal detail" not in response.text
    assert json.loads(response.text)["type"] == "urn:todo-api:problem:internal-error"


async def test_the_started_app_has_tuned_the_garbage_collector(app: FastAPI) -> None:
    """At the default thresholds the server spent about a fifth of its time collecting
    (research P10); start-up objects are frozen out of full collections."""
    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() > 0
