"""errors.py: every error is problem+json in one shape, a 500 without internals, a lost database a
503."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine

from fixtures.api import User
from todo_api.db import Database
from todo_api.state import app_state
from todo_api.tasks import store
from todo_api.tasks.service import Tasks

pytestmark = pytest.mark.anyio


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
