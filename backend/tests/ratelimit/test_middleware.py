"""Abuse limits through the real app: per-user budgets, the failed-auth throttle, shared counters
in a real Redis, and the task quota under concurrency on both databases."""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from fixtures.api import User, asgi_client, make_settings, mint
from fixtures.limit_probes import (
    budget_findings,
    count_signature_checks,
    quota_findings,
    throttle_findings,
)
from fixtures.live_server import free_port
from todo_api.main import create_app
from todo_api.ratelimit.counters import MemoryCounters, RedisCounters
from todo_api.ratelimit.limiter import Limiter
from todo_api.settings import Settings
from todo_api.spec import load_spec

pytestmark = pytest.mark.anyio
# A Redis server for the shared-counter tests (`.ci/run` and `make test-pg` set it).
REDIS = os.environ.get("TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(
    REDIS is None, reason="needs Redis: set TEST_REDIS_URL (`.ci/run` does)"
)


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def served(settings: Settings, limiter: Limiter | None = None) -> AsyncIterator[FastAPI]:
    app = create_app(settings, limiter=limiter)
    async with app.router.lifespan_context(app):
        yield app


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


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def memory_limiter(clock: Clock) -> Limiter:
    return Limiter(MemoryCounters(clock=clock), clock=clock)


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


@pytest.fixture
def signature_checks(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    return count_signature_checks(monkeypatch)


async def test_spent_auth_failures_refuse_without_verifying_but_serve_a_verified_token(
    tmp_path: Path, memory_limiter: Limiter, alice: User, signature_checks: Callable[[], int]
) -> None:
    settings = make_settings(tmp_path, RATE_LIMIT_AUTH_FAILURES="4/minute")
    async with served(settings, memory_limiter) as app, asgi_client(app) as client:
        assert await throttle_findings(client, alice, 4, signature_checks) == []
        # No token at all, or a token never seen, from the spent address: refused unverified.
        bare = await client.get("/api/alice/tasks")
        fresh = await client.get("/api/me", headers={"Authorization": f"Bearer {mint('carol')}"})
    assert (bare.status_code, fresh.status_code) == (429, 429)
    assert fresh.json()["type"] == "urn:todo-api:problem:rate-limited"
    assert '"auth-failures";r=0' in fresh.headers["ratelimit"]


async def test_the_throttle_believes_x_forwarded_for_only_from_trusted_proxies(
    tmp_path: Path, alice: User
) -> None:
    forged = {"Authorization": f"Bearer {mint('alice', ttl=-600)}"}

    async def statuses(settings: Settings, addresses: list[str]) -> list[int]:
        async with served(settings) as app, asgi_client(app) as client:
            return [
                (
                    await client.get(
                        "/api/alice/tasks", headers={**forged, "X-Forwarded-For": address}
                    )
                ).status_code
                for address in addresses
            ]

    budget = {"RATE_LIMIT_AUTH_FAILURES": "2/minute"}
    # The ASGI client's peer is 127.0.0.1: trusted, each forwarded address has its own budget.
    trusted = make_settings(tmp_path, TRUSTED_PROXIES="127.0.0.0/8", **budget)
    assert await statuses(trusted, ["203.0.113.5"] * 3 + ["203.0.113.6"]) == [401, 401, 429, 401]
    # Not trusted: the header is whatever the client wrote, and the peer is the client.
    untrusted = make_settings(tmp_path, **budget)
    assert await statuses(untrusted, ["203.0.113.5", "203.0.113.6", "203.0.113.7"]) == [
        401,
        401,
        429,
    ]


async def test_a_spoofed_first_hop_does_not_escape_the_throttle_behind_trusted_proxies(
    tmp_path: Path,
) -> None:
    # Behind two trusted proxies, the client writes its own X-Forwarded-For first hop, fresh on
    # every try; the proxies append what they saw. Read right to left, the client is the address
    # the nearest untrusted hop names, and its budget is one however many first hops it invents.
    forged = {"Authorization": f"Bearer {mint('alice', ttl=-600)}"}
    settings = make_settings(
        tmp_path, TRUSTED_PROXIES="127.0.0.0/8, 10.0.0.0/8", RATE_LIMIT_AUTH_FAILURES="2/minute"
    )
    async with served(settings) as app, asgi_client(app) as client:
        statuses = [
            (
                await client.get(
                    "/api/alice/tasks",
                    headers={**forged, "X-Forwarded-For": f"198.51.100.{i}, 203.0.113.9, 10.0.0.2"},
                )
            ).status_code
            for i in range(4)
        ]
    assert statuses == [401, 401, 429, 429]


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


@needs_redis
async def test_redis_counters_count_open_a_window_and_heal_a_key_without_expiry() -> None:
    """One script a hit: the count, and the window's end set on the first hit only."""
    assert REDIS is not None
    counters = RedisCounters(REDIS)
    key = f"todo-api/test/{secrets.token_hex(6)}"
    started = time.time()
    assert await counters.peek(key) == (0, pytest.approx(started, abs=1))
    first = await counters.incr(key, 60)
    assert first == (1, pytest.approx(started + 60, abs=1))
    # Later hits count in the same window: they do not move its end (5 s left here).
    client = Redis.from_url(REDIS)
    await client.pexpire(key, 5000)
    second = await counters.incr(key, 60)
    assert second == (2, pytest.approx(time.time() + 5, abs=1))
    assert (await counters.peek(key)) == (2, pytest.approx(time.time() + 5, abs=1))
    # A key left without an expiry (by hand, or an older counter) gets one at its next hit.
    await client.persist(key)
    assert (await counters.incr(key, 60))[1] == pytest.approx(time.time() + 60, abs=1)
    assert 0 < await client.ttl(key) <= 60
    await client.delete(key)
    await client.aclose()
    await counters.close()


async def test_redis_down_serves_requests_counts_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, alice: User
) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    settings = make_settings(tmp_path, RATE_LIMIT="1/minute", RATE_LIMIT_STORAGE_URL=down)
    # After a failure the store is skipped for a second: 2 s between requests, so each one
    # tries the store (the throttle's look-up on the first, the user's budget on all).
    clock = Clock()
    limiter = Limiter(_counters_of(settings), monotonic=clock)
    caplog.set_level(logging.INFO, logger="todo_api")
    responses = []
    async with served(settings, limiter) as app, asgi_client(app) as client:
        for _ in range(5):
            responses.append(await client.get("/api/alice/tasks", headers=alice.headers))
            clock.now += 2
    assert [r.status_code for r in responses] == [200] * 5
    assert all("ratelimit" not in r.headers for r in responses)
    assert limiter.store_failures == 6
    # Down at start: the start's warning, and no error line per request after it.
    said = [r for r in caplog.records if getattr(r, "dependency", None) == "rate_limit_store"]
    assert [r.levelname for r in said] == ["WARNING"]
    assert "RATE_LIMIT_STORAGE_URL" in said[0].getMessage()


def _counters_of(settings: Settings) -> Any:
    from todo_api.ratelimit.counters import make_counters

    return make_counters(settings.rate_limit_storage_url)


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
