"""Shared fixtures: isolated environment, settings, the real app on a real database, tokens.

`settings` (and so `app` and `client`) is parametrised over the databases of this run: always a
SQLite file, and PostgreSQL when TEST_DATABASE_URL is set (see pg_databases.py), so every test
that goes through the app runs on both.

Loaded as a pytest plugin by the root conftest.py so that backend and contract tests share them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from alembic import command
from fastapi import FastAPI
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from sqlalchemy import Connection, Engine, create_engine, text

import pg_databases
from pgbouncer import PgBouncer, PgBouncerMissing
from pgbouncer import setting as pgbouncer_setting
from todo_api.db import make_engine
from todo_api.db.lifecycle import _config, upgrade
from todo_api.main import create_app
from todo_api.settings import Settings

SECRET = "test-secret-for-the-tasks-api-0123456789abcdef"
OTHER_SECRET = "another-secret-nobody-here-trusts-0123456789"
# Every variable the service reads, from the settings model itself: none can be missed.
SETTINGS_ENV = tuple(
    sorted(field.alias for field in Settings.model_fields.values() if field.alias is not None)
)

MintToken = Callable[..., str]
DATABASES = ["sqlite", *(["postgresql"] if pg_databases.ADMIN_URL else [])]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A developer's environment or .env never leaks into a test."""
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


class ArgumentsOnly(Settings):
    """Settings from the arguments alone: no environment, no .env, whenever they are built (some
    are built at collection, before `_isolated_environment` runs)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        **_: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "BETTER_AUTH_SECRET": SECRET,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'tasks.db'}",
    }
    values.update(overrides)
    return ArgumentsOnly(**values)


def postgres_settings(
    tmp_path: Path, database: pg_databases.Database, **overrides: Any
) -> Settings:
    """The app as deployed: connected as the application role, migrated by the owner."""
    urls = {"DATABASE_URL": database.app_url, "MIGRATION_DATABASE_URL": database.owner_url}
    return make_settings(tmp_path, **urls, **overrides)


def settings_with(settings: Settings, **overrides: str) -> Settings:
    """The fixture's settings (SQLite or PostgreSQL) with more variables, validated anew."""
    values = {
        "DATABASE_URL": settings.database_url,
        "BETTER_AUTH_SECRET": settings.secret_bytes().decode(),
    }
    if settings.migration_database_url is not None:
        values["MIGRATION_DATABASE_URL"] = settings.migration_database_url
    return make_settings(Path("."), **values, **overrides)


@contextmanager
def database_at(revision: str, kind: str, tmp_path: Path) -> Iterator[Engine]:
    """A database migrated up to `revision` only (an earlier release's schema), as the schema
    owner: a migration is tested on the data the release before it left."""
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / f'at-{revision}.db'}")
    else:
        fresh = pg_databases.cluster().create_database(f"at{revision}", migrate=False)
        engine = create_engine(fresh.owner_url)
    with engine.begin() as connection:
        command.upgrade(_config(connection), revision)
    try:
        yield engine
    finally:
        engine.dispose()


def as_owner(connection: Connection, owner: str) -> None:
    """Bind a transaction to `owner` as the app does: FORCE ROW LEVEL SECURITY holds the schema
    owner too. SQLite has no RLS."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT set_config('app.user_id', :u, true)"), {"u": owner})


@pytest.fixture
def two_servers(tmp_path: Path, postgres: pg_databases.Database) -> Iterator[list[str]]:
    """Two `todo-api serve` processes on one PostgreSQL, as behind a load balancer."""
    from live_server import running_server

    with (
        running_server(tmp_path / "a", postgres.app_url) as a,
        running_server(tmp_path / "b", postgres.app_url) as b,
    ):
        yield [a.base, b.base]


@pytest.fixture(scope="session", autouse=True)
def _drop_postgres_databases() -> Iterator[None]:
    """The run's PostgreSQL databases and roles go when the run ends."""
    yield
    pg_databases.cleanup()


@pytest.fixture(params=DATABASES)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "postgresql":
        shared = pg_databases.cluster().shared()
        shared.truncate()
        return postgres_settings(tmp_path, shared)
    return make_settings(tmp_path)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked `pooler` that uses `postgres` runs twice: connected to PostgreSQL directly,
    and through PgBouncer in transaction mode, as behind a production pooler."""
    if (
        pg_databases.ADMIN_URL
        and "postgres" in metafunc.fixturenames
        and metafunc.definition.get_closest_marker("pooler") is not None
    ):
        metafunc.parametrize("postgres", ["direct", "pooled"], indirect=True)


@pytest.fixture(scope="session")
def pgbouncer() -> Iterator[PgBouncer]:
    """One PgBouncer (transaction mode, docs/deploying.md's configuration) for the session."""
    assert pg_databases.ADMIN_URL, "TEST_DATABASE_URL is not set"
    pooler = PgBouncer(pg_databases.ADMIN_URL, pg_databases.cluster().users())
    try:
        pooler.start()
    except PgBouncerMissing as missing:
        pytest.fail(str(missing), pytrace=False)
    yield pooler
    pooler.stop()


@pytest.fixture
def postgres(request: pytest.FixtureRequest) -> pg_databases.Database:
    """A fresh PostgreSQL database of its own (roles granted, migrated); PostgreSQL-only tests.

    With the `pooler` mark, also one whose owner and app roles connect through PgBouncer (and
    migrated through it)."""
    if not pg_databases.ADMIN_URL:
        pytest.skip("PostgreSQL-only: set TEST_DATABASE_URL (`.ci/run` does)")
    if getattr(request, "param", "direct") == "direct":
        return pg_databases.cluster().create_database("t")
    pooler: PgBouncer = request.getfixturevalue("pgbouncer")
    database = pg_databases.cluster().create_database("p", migrate=False)
    # New logins succeed again once PgBouncer has retried its own, after server_login_retry.
    retry = float(pgbouncer_setting("server_login_retry"))
    pooled = database.through(pooler.url, recovers_within=retry + 2)
    owner = make_engine(pooled.owner_url)
    upgrade(owner)
    owner.dispose()
    return pooled


@asynccontextmanager
async def running_app(settings: Settings, **options: Any) -> AsyncIterator[FastAPI]:
    """The real app with its lifespan (schema, JWKS refresher) started and stopped; `options`
    go to create_app."""
    application = create_app(settings, **options)
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def asgi_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running_app(settings) as application:
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as http:
        yield http


@pytest.fixture
async def pg_app(tmp_path: Path, postgres: pg_databases.Database) -> AsyncIterator[FastAPI]:
    """The app on PostgreSQL only (tests of PostgreSQL behaviour: RLS, outages)."""
    async with running_app(postgres_settings(tmp_path, postgres)) as application:
        yield application


@pytest.fixture
async def pg_client(pg_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(pg_app) as http:
        yield http


def mint(
    sub: object = "alice",
    *,
    secret: str = SECRET,
    algorithm: str = "HS256",
    ttl: int = 300,
    headers: dict[str, Any] | None = None,
    omit: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    """A token as Better Auth would issue it; every part can be bent to build a bad one."""
    now = int(time.time())
    payload: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + ttl}
    payload.update(claims)
    for name in omit:
        payload.pop(name, None)
    return jwt.encode(payload, secret, algorithm=algorithm, headers=headers)


@pytest.fixture
def mint_token() -> MintToken:
    return mint


@dataclass(frozen=True)
class User:
    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def alice() -> User:
    return User("alice", mint("alice", email="alice@example.com", name="Alice"))


@pytest.fixture
def bob() -> User:
    return User("bob-42_x.y~z", mint("bob-42_x.y~z"))


async def create_task(
    client: httpx.AsyncClient, user: User, title: str = "mine", **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/api/{user.id}/tasks", json={"title": title, **fields}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def all_tasks(client: httpx.AsyncClient, user: User) -> list[dict[str, Any]]:
    """Every task of `user`, read back by that user, walking all pages."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        response = await client.get(f"/api/{user.id}/tasks", params=params, headers=user.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def forge_hs256(claims: dict[str, Any], secret: bytes, **header: Any) -> str:
    """An HS256 token signed by hand with any bytes as the key (PyJWT refuses PEM/JWK secrets)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    signing_input = (
        f"{b64(json.dumps({'alg': 'HS256', **header}).encode())}.{b64(json.dumps(claims).encode())}"
    )
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"
