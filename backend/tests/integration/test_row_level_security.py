"""The second wall (PostgreSQL): Row-Level Security holds the app's session to the bound owner's
rows even where the application's own owner filter is missing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, Engine, insert, select, text
from sqlalchemy.exc import ProgrammingError

import pg_databases
from api_fixtures import User, all_tasks, create_task
from todo_api.db import PoolOptions, make_engine, transaction, utc_now
from todo_api.tasks import store

# Directly and through PgBouncer in transaction mode: the binding is transaction-local.
pytestmark = pytest.mark.pooler


@pytest.fixture
def engine(postgres: pg_databases.Database) -> Iterator[Engine]:
    """The application's engine: the app role, one pooled connection (reused on purpose)."""
    app_engine = make_engine(postgres.app_url)
    yield app_engine
    app_engine.dispose()


@pytest.fixture
def seeded(postgres: pg_databases.Database) -> dict[str, int]:
    """Two of alice's tasks and one of bob's, written past RLS by the administrator."""
    admin = postgres.admin_engine()
    counts = {"alice": 2, "bob": 1}
    with admin.begin() as connection:
        for owner, count in counts.items():
            for i in range(count):
                connection.execute(_row(owner, f"{owner} {i}"))
    admin.dispose()
    return counts


def _row(owner: str, title: str) -> Any:
    now = utc_now()
    return insert(store.TaskRow).values(
        owner_id=owner, title=title, completed=False, created_at=now, updated_at=now
    )


def app_session(engine: Engine, user_id: str | None) -> AbstractContextManager[Connection]:
    """A transaction exactly as a request gets it (db.transaction), bound to `user_id`."""
    return transaction(engine, user_id=user_id)


def _owners(session: Connection) -> list[str]:
    # No WHERE: the owner filter the application would add is deliberately left out.
    return sorted(session.execute(text("SELECT owner_id FROM tasks")).scalars())


def test_raw_select_without_owner_filter_sees_only_the_bound_users_rows(
    engine: Engine, seeded: dict[str, int]
) -> None:
    with app_session(engine, "alice") as session:
        assert _owners(session) == ["alice", "alice"]
    with app_session(engine, "bob") as session:
        assert _owners(session) == ["bob"]


def test_insert_for_another_owner_is_refused(engine: Engine, seeded: dict[str, int]) -> None:
    with (
        pytest.raises(ProgrammingError, match="row-level security"),
        app_session(engine, "alice") as session,
    ):
        session.execute(_row("bob", "planted by alice"))
    with app_session(engine, "bob") as session:
        assert _owners(session) == ["bob"]


def test_update_cannot_hand_a_row_to_another_owner(engine: Engine, seeded: dict[str, int]) -> None:
    with (
        pytest.raises(ProgrammingError, match="row-level security"),
        app_session(engine, "alice") as session,
    ):
        session.execute(text("UPDATE tasks SET owner_id = 'bob'"))


def test_unfiltered_update_and_delete_touch_only_the_bound_users_rows(
    engine: Engine, seeded: dict[str, int]
) -> None:
    with app_session(engine, "alice") as session:
        assert session.execute(text("UPDATE tasks SET title = 'mine now'")).rowcount == 2
        assert session.execute(text("DELETE FROM tasks")).rowcount == 2
    with app_session(engine, "bob") as session:
        titles = session.execute(text("SELECT title FROM tasks")).scalars().all()
        assert titles == ["bob 0"]


def test_a_transaction_bound_to_nobody_sees_and_writes_nothing(
    engine: Engine, seeded: dict[str, int]
) -> None:
    with app_session(engine, None) as session:
        assert _owners(session) == []
    with (
        pytest.raises(ProgrammingError, match="row-level security"),
        app_session(engine, None) as session,
    ):
        session.execute(_row("alice", "unbound"))


def test_the_binding_ends_with_its_transaction_on_a_pooled_connection(
    postgres: pg_databases.Database, seeded: dict[str, int]
) -> None:
    # One connection, reused: the next transaction must not inherit alice.
    single = make_engine(postgres.app_url, PoolOptions(size=1, max_overflow=0))
    with app_session(single, "alice") as session:
        first = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert len(_owners(session)) == 2
    with app_session(single, None) as session:
        assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() == first
        assert _owners(session) == []
    single.dispose()


@pytest.mark.anyio
async def test_store_without_owner_filter_still_keeps_users_apart(
    pg_client: httpx.AsyncClient, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bug RLS exists for: list and get forget `owner_id` (the same breaks that
    contract_tests/test_suite_bites.py shows leaking on SQLite)."""

    def list_tasks(connection: Connection, *, owner_id: str, limit: int, **_: Any) -> Any:
        query = select(*store.COLUMNS).order_by(store.TASKS.c.id.desc()).limit(limit)
        return connection.execute(query).all()

    def get_task(connection: Connection, *, owner_id: str, task_id: int) -> Any:
        return connection.execute(select(*store.COLUMNS).where(store.TASKS.c.id == task_id)).first()

    secret = await create_task(pg_client, alice, "alice's secret")
    await create_task(pg_client, bob, "bob's")
    monkeypatch.setattr(store, "list_tasks", list_tasks)
    monkeypatch.setattr(store, "get_task", get_task)

    assert [task["title"] for task in await all_tasks(pg_client, bob)] == ["bob's"]
    stolen = await pg_client.get(f"/api/{bob.id}/tasks/{secret['id']}", headers=bob.headers)
    assert stolen.status_code == 404
    assert [task["title"] for task in await all_tasks(pg_client, alice)] == ["alice's secret"]
