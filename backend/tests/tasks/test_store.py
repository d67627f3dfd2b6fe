"""store.py against real databases: what the pre-built statements refuse to write, and how an
owner's task numbers are handed out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, select

from fixtures import pg_databases
from todo_api.db import PoolOptions, make_engine, ping, transaction
from todo_api.db.lifecycle import upgrade
from todo_api.tasks import store

in_transaction = transaction
THREADS = 8
ROUNDS = 10


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    migrated = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(migrated)
    yield migrated
    migrated.dispose()


@pytest.mark.parametrize(
    "changes",
    [{"owner_id": "bob"}, {"title": "x", "owner_id": "bob"}, {"id": 99}, {}],
    ids=["owner-only", "owner-with-title", "id", "nothing"],
)
def test_update_refuses_columns_outside_the_writable_ones(
    engine: Engine, changes: dict[str, object]
) -> None:
    """A caller that passed the owner (or nothing) must fail loudly, not have it dropped."""
    with in_transaction(engine, "alice") as connection:
        task = store.create_task(
            connection, owner_id="alice", title="mine", description=None, completed=False
        )
    with pytest.raises(ValueError, match="not writable"), in_transaction(engine, "alice") as c:
        store.update_task(c, owner_id="alice", task_id=task.id, changes=changes)
    with in_transaction(engine, "alice") as connection:
        rows = connection.execute(select(store.TASKS.c.owner_id, store.TASKS.c.title)).all()
    assert [tuple(row) for row in rows] == [("alice", "mine")]


@pytest.mark.parametrize("max_tasks", [None, 1000], ids=["unlimited", "within-quota"])
def test_concurrent_creates_of_one_user_on_postgresql_get_distinct_numbers(
    postgres: pg_databases.Database, max_tasks: int | None
) -> None:
    """Threads, each with its own connection as the app role, create at once: the counter row's
    lock makes them take turns, so the numbers are 1..N, none twice, none skipped."""
    engine = make_engine(postgres.app_url, PoolOptions(size=THREADS, max_overflow=0))
    start = threading.Barrier(THREADS)

    def create(i: int) -> list[int]:
        start.wait()
        numbers = []
        for j in range(ROUNDS):
            with in_transaction(engine, "alice") as connection:
                task = store.create_task(
                    connection,
                    owner_id="alice",
                    title=f"t{i}.{j}",
                    description=None,
                    completed=False,
                    max_tasks=max_tasks,
                )
            assert task is not None
            numbers.append(task.id)
        return numbers

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(create, range(THREADS)))
        with in_transaction(engine, "alice") as connection:
            stored = connection.execute(select(store.TASKS.c.number)).scalars().all()
    finally:
        engine.dispose()
    handed_out = sorted(number for numbers in results for number in numbers)
    assert handed_out == list(range(1, THREADS * ROUNDS + 1))
    assert sorted(stored) == handed_out


def _sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every query string psycopg's cursors send from now on."""
    sent: list[str] = []
    real = psycopg.Cursor.execute

    def spy(cursor: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(pg_databases.as_sent(cursor, query, *args))
        return real(cursor, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", spy)
    return sent


@pytest.mark.parametrize("max_tasks", [None, 1000], ids=["unlimited", "within-quota"])
def test_a_create_on_postgresql_is_one_statement_after_the_owners_lock(
    postgres: pg_databases.Database, monkeypatch: pytest.MonkeyPatch, max_tasks: int | None
) -> None:
    # The counter and the task in one statement, so the create opens in one exchange and
    # commits in another (research P34). Within a quota the owner's lock is a statement of its
    # own before it: the count's snapshot comes after the lock, and the lock order is the
    # same on every path (the owner's lock, then the counter row).
    engine = make_engine(postgres.app_url, PoolOptions(size=1, max_overflow=0))
    ping(engine)
    sent = _sent(monkeypatch)
    try:
        for expected in (1, 2):
            with in_transaction(engine, "alice") as connection:
                task = store.create_task(
                    connection,
                    owner_id="alice",
                    title="mine",
                    description=None,
                    completed=False,
                    max_tasks=max_tasks,
                )
            assert task is not None
            assert task.id == expected
    finally:
        engine.dispose()
    assert len(sent) == 2
    for exchange in sent:
        statements = exchange.split(";\n")
        assert statements[:2] == ["BEGIN", statements[1]]
        assert statements[1].startswith("SELECT set_config('app.user_id'")
        if max_tasks is not None:
            assert statements[2].startswith("SELECT pg_advisory_xact_lock(")
        assert statements[-1].startswith("WITH counter AS \n(INSERT INTO task_counters")
        assert len(statements) == (3 if max_tasks is None else 4)


def test_a_create_at_the_quota_on_postgresql_inserts_nothing(
    postgres: pg_databases.Database,
) -> None:
    engine = make_engine(postgres.app_url, PoolOptions(size=1, max_overflow=0))
    try:
        for title, expected in (("first", 1), ("second", None)):
            with in_transaction(engine, "alice") as connection:
                task = store.create_task(
                    connection,
                    owner_id="alice",
                    title=title,
                    description=None,
                    completed=False,
                    max_tasks=1,
                )
            assert (None if task is None else task.id) == expected
        with in_transaction(engine, "alice") as connection:
            stored = connection.execute(select(store.TASKS.c.title)).scalars().all()
    finally:
        engine.dispose()
    assert stored == ["first"]
