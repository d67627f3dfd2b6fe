"""db.py under faults: a database that goes away gives 503 problem+json and a not-ready probe,
writes nothing, and the service recovers by itself; a missing database stops start-up cleanly.

The database is taken away without touching the server: its backends are terminated and new
connections refused (ALTER DATABASE ... ALLOW_CONNECTIONS false), never by stopping PostgreSQL.
The faults are also met through PgBouncer in transaction mode (`pooler`): there the instance's
connections to the pooler survive, and the pooler's server connections are what goes away.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, text

import pg_databases
from api_fixtures import SECRET, User, all_tasks, create_task
from live_server import CLI, child_env, free_port
from pg_databases import database_away
from todo_api.db import DatabaseNotReady, PoolOptions, make_engine, wait_for_database
from todo_api.main import create_app
from todo_api.settings import Settings
from todo_api.state import app_state
from todo_api.tasks import store

pytestmark = pytest.mark.anyio


def _admin_count(database: pg_databases.Database) -> int:
    admin = database.admin_engine()
    with admin.connect() as connection:
        count: int = connection.execute(text("SELECT count(*) FROM tasks")).scalar_one()
    admin.dispose()
    return count


@pytest.mark.pooler
async def test_connection_lost_mid_request_is_503_writes_nothing_and_recovers(
    pg_client: httpx.AsyncClient,
    postgres: pg_databases.Database,
    alice: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_create = store.create_task

    def create_then_lose_the_connection(connection: Connection, **fields: Any) -> Any:
        # A statement before the create's: the transaction is no longer a single exchange
        # (research P22), so the INSERT runs and waits, uncommitted, for a COMMIT of its own.
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        row = real_create(connection, **fields)  # the INSERT ran, uncommitted
        admin = postgres.admin_engine()
        with admin.begin() as admin_connection:
            admin_connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.dispose()
        return row

    monkeypatch.setattr(store, "create_task", create_then_lose_the_connection)
    failed = await pg_client.post(
        f"/api/{alice.id}/tasks", json={"title": "lost"}, headers=alice.headers
    )
    assert failed.status_code == 503
    assert failed.headers["content-type"] == "application/problem+json"
    assert failed.json()["type"] == "urn:todo-api:problem:service-unavailable"
    assert "Traceback" not in failed.text
    assert _admin_count(postgres) == 0

    monkeypatch.setattr(store, "create_task", real_create)
    await create_task(pg_client, alice, "after")
    assert [task["title"] for task in await all_tasks(pg_client, alice)] == ["after"]


@pytest.mark.pooler
async def test_database_away_gives_503_and_not_ready_then_recovers_by_itself(
    pg_client: httpx.AsyncClient, postgres: pg_databases.Database, alice: User
) -> None:
    await create_task(pg_client, alice, "before")
    assert (await pg_client.get("/readyz")).status_code == 200

    with database_away(postgres):
        ready = await pg_client.get("/readyz")
        assert ready.status_code == 503
        assert ready.headers["content-type"] == "application/problem+json"
        for method, body in (("GET", None), ("POST", {"title": "during"})):
            answer = await pg_client.request(
                method, f"/api/{alice.id}/tasks", json=body, headers=alice.headers
            )
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"] == "application/problem+json"
        assert (await pg_client.get("/healthz")).status_code == 200  # liveness: do not restart

    assert await _readiness_within(pg_client, postgres.recovers_within) == 200
    assert [task["title"] for task in await all_tasks(pg_client, alice)] == ["before"]
    await create_task(pg_client, alice, "after")


async def _readiness_within(client: httpx.AsyncClient, seconds: float) -> int:
    """/readyz's status, asked again until 200 or until `seconds` have passed (0: asked once).

    Directly, the first connection after the outage succeeds. Through a pooler, the pooler itself
    refuses logins until its own next login attempt (PgBouncer's server_login_retry).
    """
    deadline = time.monotonic() + seconds
    while True:
        status = (await client.get("/readyz")).status_code
        if status == 200 or time.monotonic() >= deadline:
            return status
        await asyncio.sleep(0.2)


@pytest.mark.pooler
async def test_connections_the_server_dropped_are_replaced_without_a_failed_request(
    pg_client: httpx.AsyncClient, postgres: pg_databases.Database, alice: User
) -> None:
    # A restart, a failover or a managed service's idle timeout leaves dead connections in the
    # pool; the next request must not be the one that finds out.
    await create_task(pg_client, alice, "before")
    assert _terminate_every_backend(postgres) >= 1
    answer = await pg_client.get(f"/api/{alice.id}/tasks", headers=alice.headers)
    assert answer.status_code == 200


async def test_an_exhausted_pool_is_503_not_a_hang(settings: Settings, alice: User) -> None:
    tight = settings.model_copy(
        update={"db_pool_size": 1, "db_max_overflow": 0, "db_pool_timeout": 0.2}
    )
    app = create_app(tight)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            with app_state(app).database.engine.connect():  # the one connection, held
                answer = await client.get(f"/api/{alice.id}/tasks", headers=alice.headers)
            assert answer.status_code == 503
            assert answer.headers["content-type"] == "application/problem+json"
            again = await client.get(f"/api/{alice.id}/tasks", headers=alice.headers)
            assert again.status_code == 200


@pytest.mark.pooler
def test_start_waits_for_a_database_that_comes_back(postgres: pg_databases.Database) -> None:
    engine = make_engine(postgres.app_url)
    with database_away(postgres):
        with pytest.raises(DatabaseNotReady, match=r"within 0\.3 s"):
            wait_for_database(engine, 0.3)
        returner = threading.Timer(1.0, _allow_connections, args=(postgres,))
        returner.start()
        wait_for_database(engine, 15)  # returns once the database is back
        returner.join()
    engine.dispose()


@pytest.mark.parametrize("opted_in", [False, True])
def test_statements_are_prepared_server_side_only_when_opted_in(
    postgres: pg_databases.Database, opted_in: bool
) -> None:
    """Through a transaction pooler, a statement prepared on one server connection is missing
    on the next (or already exists there): by default nothing is prepared."""
    engine = make_engine(postgres.app_url, PoolOptions(size=1, prepared_statements=opted_in))
    with engine.connect() as connection:
        for _ in range(10):  # past psycopg's threshold of 5
            connection.execute(text("SELECT count(*) FROM tasks")).scalar_one()
        prepared = connection.execute(text("SELECT count(*) FROM pg_prepared_statements"))
        assert (prepared.scalar_one() > 0) is opted_in
    engine.dispose()


def _allow_connections(database: pg_databases.Database) -> None:
    admin = pg_databases.cluster()._autocommit()
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{database.name}" ALLOW_CONNECTIONS true'))
    admin.dispose()


def test_serve_without_a_database_stops_with_one_clear_line(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://todo_app:pw-do-not-print@127.0.0.1:{free_port()}/todo"
    result = subprocess.run(
        [*CLI, "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=child_env()
        | {"BETTER_AUTH_SECRET": SECRET, "DATABASE_URL": url, "DB_STARTUP_TIMEOUT": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "cannot connect to the database at 127.0.0.1:" in result.stderr
    assert "within 1 s" in result.stderr
    assert "Traceback" not in result.stderr
    assert "pw-do-not-print" not in result.stderr


def test_serve_refuses_to_start_as_a_superuser(
    tmp_path: Path, postgres: pg_databases.Database
) -> None:
    result = subprocess.run(
        [*CLI, "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=child_env() | {"BETTER_AUTH_SECRET": SECRET, "DATABASE_URL": postgres.admin_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "bypasses Row-Level Security" in result.stderr
    assert "Traceback" not in result.stderr


def _terminate_every_backend(postgres: pg_databases.Database) -> int:
    admin = postgres.admin_engine()
    with admin.begin() as connection:
        dropped: int = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": postgres.name},
        ).scalar_one()
    admin.dispose()
    return dropped


async def test_after_every_backend_is_terminated_a_write_is_one_503_and_never_retried(
    pg_client: httpx.AsyncClient, postgres: pg_databases.Database, alice: User
) -> None:
    # No pre-ping (research P22): the write that draws a dead connection finds out. It may not
    # run again by itself (had it committed before the connection broke, a retry would write
    # twice): one 503, the pool replaced, and the next write goes through.
    await create_task(pg_client, alice, "before")
    assert _terminate_every_backend(postgres) >= 1
    lost = await pg_client.post(
        f"/api/{alice.id}/tasks", json={"title": "lost"}, headers=alice.headers
    )
    assert lost.status_code == 503
    assert lost.json()["type"] == "urn:todo-api:problem:service-unavailable"
    await create_task(pg_client, alice, "after")
    assert [task["title"] for task in await all_tasks(pg_client, alice)] == ["after", "before"]


async def test_after_every_backend_is_terminated_reads_succeed_on_new_connections(
    pg_client: httpx.AsyncClient, postgres: pg_databases.Database, alice: User
) -> None:
    # A read has no effect to repeat: it runs once more, on a connection of the new pool.
    await create_task(pg_client, alice, "before")
    for _ in range(2):
        assert _terminate_every_backend(postgres) >= 1
        for path in (f"/api/{alice.id}/tasks", "/readyz"):
            answer = await pg_client.get(path, headers=alice.headers)
            assert answer.status_code == 200, answer.text
