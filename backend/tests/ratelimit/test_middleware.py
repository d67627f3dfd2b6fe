"""ratelimit/middleware.py through the real app: per-user budgets, shared counters in a real Redis,
and the task quota under concurrency on both databases."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.api import User, asgi_client, make_settings, mint
from fixtures.limit_probes import (
    budget_findings,
    quota_findings,
)
from fixtures.limits import Clock, served
from todo_api.ratelimit.limiter import Limiter
from todo_api.settings import Settings
from todo_api.spec import load_spec

pytestmark = pytest.mark.anyio
# A Redis server for the shared-counter tests (`.ci/run` and `make test-pg` set it).
REDIS = os.environ.get("TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(
    REDIS is None, reason="needs Redis: set TEST_REDIS_URL (`.ci/run` does)"
)


def limited(settings: Settings, **overrides: Any) -> Settings:
    """The fixture's settings (SQLite or PostgreSQL) with other limits, validated anew."""
    values = {
        field.alias: getattr(settings, name)
        for name, field in Settings.model_fields.items()
        if field.alias in ("DATABASE_URL", "MIGRATION_DATABASE_URL", "BETTER_AUTH_SECRET")
    }
    values["BETTER_AUTH_SECRET"] = settings.secret_bytes().decode()
    return make_settings(Path("."), **values, **overrides)


def someone() -> User:
    """A user of this run only: counters in Redis outlive a test."""
    user_id = f"u-{secrets.token_hex(6)}"
    return User(user_id, mint(user_id))


async def test_the_request_budget_is_exact_and_free_again_after_its_window(
    tmp_path: Path, clock: Clock, memory_limiter: Limiter, alice: User
) -> None:
    settings = make_settings(tmp_path, RATE_LIMIT="5/minute")
    async with served(settings, memory_limiter) as app, asgi_client(app) as client:
        assert await budget_findings(client, alice, 5) == []
        clock.now += 59
        refused = await client.get("/api/alice/tasks", headers=alice.headers)
        assert (refused.status_code, refused.headers["retry-after"]) == (429, "1")
        clock.now += 1
        again = await client.get("/api/alice/tasks", headers=alice.headers)
        assert again.status_code == 200
        assert again.headers["ratelimit"] == '"requests";r=4;t=60'


async def test_every_api_response_announces_its_budgets(
    tmp_path: Path, memory_limiter: Limiter, alice: User
) -> None:
    async with served(make_settings(tmp_path), memory_limiter) as app, asgi_client(app) as client:
        read = await client.get("/api/alice/tasks", headers=alice.headers)
        write = await client.post("/api/alice/tasks", json={"title": "x"}, headers=alice.headers)
        me = await client.get("/api/me", headers=alice.headers)
        denied = await client.get("/api/alice/tasks", headers={"Authorization": "Bearer x.y.z"})
        health = await client.get("/healthz")
    assert read.headers["ratelimit-policy"] == '"requests";q=600;w=60'
    assert read.headers["ratelimit"] == '"requests";r=599;t=60'
    assert write.headers["ratelimit-policy"] == '"requests";q=600;w=60, "writes";q=120;w=60'
    assert write.headers["ratelimit"] == '"requests";r=598;t=60, "writes";r=119;t=60'
    assert me.headers["ratelimit"] == '"requests";r=597;t=60'
    assert denied.status_code == 401
    assert denied.headers["ratelimit"] == '"auth-failures";r=29;t=60'
    assert "ratelimit" not in health.headers


async def test_users_have_budgets_of_their_own(
    tmp_path: Path, memory_limiter: Limiter, alice: User, bob: User
) -> None:
    settings = make_settings(tmp_path, RATE_LIMIT="3/minute")
    async with served(settings, memory_limiter) as app, asgi_client(app) as client:
        assert await budget_findings(client, alice, 3) == []
        assert await budget_findings(client, bob, 3) == []


async def test_writes_have_a_budget_of_their_own_and_reads_go_on(
    tmp_path: Path, memory_limiter: Limiter, alice: User
) -> None:
    settings = make_settings(tmp_path, RATE_LIMIT_WRITES="2/minute")
    async with served(settings, memory_limiter) as app, asgi_client(app) as client:
        created = [
            await client.post("/api/alice/tasks", json={"title": "t"}, headers=alice.headers)
            for _ in range(3)
        ]
        read = await client.get("/api/alice/tasks", headers=alice.headers)
    assert [r.status_code for r in created] == [201, 201, 429]
    assert "writes" in created[2].json()["detail"]
    assert read.status_code == 200
    assert len(read.json()["items"]) == 2  # the refused create wrote nothing


_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_API_OPERATIONS = [
    (method.upper(), path, "requestBody" in operation)
    for path, item in load_spec()["paths"].items()
    if path.startswith("/api/")
    for method, operation in item.items()
    if method in ("get", "put", "post", "delete", "patch")
]


def test_the_spec_has_every_write_verb_to_count() -> None:
    assert {method for method, _, _ in _API_OPERATIONS} >= _WRITE_METHODS


@pytest.mark.parametrize(
    ("method", "path", "has_body"), _API_OPERATIONS, ids=[f"{m} {p}" for m, p, _ in _API_OPERATIONS]
)
async def test_each_operation_of_the_spec_spends_the_writes_budget_if_it_writes(
    tmp_path: Path, memory_limiter: Limiter, alice: User, method: str, path: str, has_body: bool
) -> None:
    # From the spec, so a write operation added later is held to it too: the `writes` remaining
    # after the operation, read from the creates around it, went down by one exactly when the
    # operation's method writes (whatever it answered: the count comes before routing).
    def writes_left(response: httpx.Response) -> int:
        assert response.status_code == 201, response.text
        return int(response.headers["ratelimit"].split('"writes";r=')[1].split(";")[0])

    settings = make_settings(tmp_path, RATE_LIMIT_WRITES="100/minute")
    base = f"/api/{alice.id}/tasks"
    async with served(settings, memory_limiter) as app, asgi_client(app) as client:
        created = await client.post(base, json={"title": "counted"}, headers=alice.headers)
        before = writes_left(created)
        url = path.format(user_id=alice.id, task_id=created.json()["id"])
        body = {"title": "t", "description": None, "completed": True} if has_body else None
        answer = await client.request(method, url, json=body, headers=alice.headers)
        assert answer.status_code < 400, answer.text
        after = writes_left(await client.post(base, json={"title": "x"}, headers=alice.headers))
    assert before - after == (2 if method in _WRITE_METHODS else 1), (
        f"{method} {path}: the writes budget went from {before} to {after} around it"
    )


async def test_health_probes_are_never_limited(tmp_path: Path, memory_limiter: Limiter) -> None:
    settings = make_settings(tmp_path, RATE_LIMIT="1/minute", RATE_LIMIT_AUTH_FAILURES="1/minute")
    async with served(settings, memory_limiter) as app, asgi_client(app) as client:
        statuses = {(await client.get(probe)).status_code for probe in ("/healthz", "/readyz") * 5}
    assert statuses == {200}


async def test_off_switches_a_limit_off(tmp_path: Path, alice: User) -> None:
    settings = make_settings(tmp_path, RATE_LIMIT="off", RATE_LIMIT_WRITES="off")
    async with served(settings) as app, asgi_client(app) as client:
        statuses = {
            (await client.get("/api/alice/tasks", headers=alice.headers)).status_code
            for _ in range(700)
        }
        one = await client.get("/api/alice/tasks", headers=alice.headers)
    assert statuses == {200}
    assert "ratelimit" not in one.headers


@needs_redis
async def test_two_instances_sharing_redis_enforce_one_budget(tmp_path: Path) -> None:
    user = someone()
    assert REDIS is not None
    settings = make_settings(tmp_path, RATE_LIMIT="4/minute", RATE_LIMIT_STORAGE_URL=REDIS)
    async with (
        served(settings) as a,
        served(settings) as b,
        asgi_client(a) as first,
        asgi_client(b) as second,
    ):
        path = f"/api/{user.id}/tasks"
        statuses = [
            (await client.get(path, headers=user.headers)).status_code
            for client in (first, second, first, second, first, second)
        ]
    assert statuses == [200, 200, 200, 200, 429, 429]


async def test_concurrent_creates_at_quota_minus_one_make_exactly_one_task(
    settings: Settings, alice: User
) -> None:
    quota = limited(settings, MAX_TASKS_PER_USER="12")
    async with served(quota) as app, asgi_client(app) as client:
        for i in range(11):
            created = await client.post(
                "/api/alice/tasks", json={"title": f"t{i}"}, headers=alice.headers
            )
            assert created.status_code == 201
        assert await quota_findings([client], alice, 12) == []


async def test_the_quota_holds_across_two_instances_on_postgresql(
    pg_databases_settings: Settings,
) -> None:
    # Several users in turn: a missing per-owner lock lets two creates through only when their
    # transactions overlap, which one round does not always provoke.
    quota = limited(pg_databases_settings, MAX_TASKS_PER_USER="8")
    async with (
        served(quota) as a,
        served(quota) as b,
        asgi_client(a) as first,
        asgi_client(b) as second,
    ):
        for user in [someone() for _ in range(4)]:
            for i in range(7):
                created = await first.post(
                    f"/api/{user.id}/tasks", json={"title": f"t{i}"}, headers=user.headers
                )
                assert created.status_code == 201
            assert await quota_findings([first, second], user, 8) == [], user.id


@pytest.fixture
def pg_databases_settings(tmp_path: Path, postgres: Any) -> Settings:
    from fixtures.api import postgres_settings

    return postgres_settings(tmp_path, postgres)
