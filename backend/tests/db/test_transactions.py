"""db/transactions.py on SQLite: writers of one process take turns on the writer thread, and
readers go on while a write transaction is open."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from todo_api.db import Database, make_engine
from todo_api.db.lifecycle import upgrade

pytestmark = pytest.mark.anyio

# How long to give a second writer to (wrongly) enter its transaction: not a measure of speed,
# a bounded wait for something that must not happen.
NOT_ENTERED_WAIT = 0.3


@pytest.fixture
def database(tmp_path: Path) -> Database:
    engine = make_engine(f"sqlite:///{tmp_path / 'tasks.db'}")
    upgrade(engine)
    return Database(engine, threads=5)


def _insert(connection: Connection, title: str) -> None:
    connection.execute(
        text(
            "INSERT INTO tasks (owner_id, title, completed, created_at, updated_at)"
            " VALUES ('alice', :title, 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        ),
        {"title": title},
    )


def _count(connection: Connection) -> int:
    return int(connection.execute(text("SELECT count(*) FROM tasks")).scalar_one())


async def test_a_second_writer_waits_for_the_first_while_readers_go_on(database: Database) -> None:
    first_holds = threading.Event()
    release_first = threading.Event()
    second_entered = threading.Event()

    def first(connection: Connection) -> None:
        _insert(connection, "first")  # holds SQLite's write lock until commit
        first_holds.set()
        assert release_first.wait(10)

    def second(connection: Connection) -> None:
        second_entered.set()
        _insert(connection, "second")

    try:
        writing = asyncio.ensure_future(database.write("alice", first))
        assert await asyncio.to_thread(first_holds.wait, 10)
        queued = asyncio.ensure_future(database.write("alice", second))
        # A reader is not held up by the open write transaction (WAL) nor by the queued writer,
        # and does not see the uncommitted row.
        assert await database.run("alice", _count) == 0
        # The second writer has not started: it queues for the writer thread instead of
        # sleeping in SQLite's busy handler on a thread of its own.
        assert not await asyncio.to_thread(second_entered.wait, NOT_ENTERED_WAIT)
        release_first.set()
        await writing
        await queued
        assert await database.run("alice", _count) == 2
    finally:
        release_first.set()
        database.close()


async def test_many_concurrent_writes_all_commit_none_lost(database: Database) -> None:
    try:
        await asyncio.gather(
            *(database.write("alice", lambda c, i=i: _insert(c, f"t{i}")) for i in range(50))
        )
        assert await database.run("alice", _count) == 50
    finally:
        database.close()


async def test_a_write_cancelled_while_it_queues_never_begins(database: Database) -> None:
    # The writer thread is busy; the queued write's request is cancelled (a client gone, the
    # shutdown's deadline): its work must never run, as an executor's cancelled future never did.
    first_holds = threading.Event()
    release_first = threading.Event()
    second_ran = threading.Event()

    def first(connection: Connection) -> None:
        first_holds.set()
        assert release_first.wait(10)

    def second(connection: Connection) -> None:
        second_ran.set()
        _insert(connection, "cancelled")

    try:
        writing = asyncio.ensure_future(database.write("alice", first))
        assert await asyncio.to_thread(first_holds.wait, 10)
        queued = asyncio.ensure_future(database.write("alice", second))
        await asyncio.sleep(0)  # queued behind the first
        queued.cancel()
        release_first.set()
        await writing
        with pytest.raises(asyncio.CancelledError):
            await queued
        await database.write("alice", lambda c: None)  # the writer thread has passed the second
        assert not second_ran.is_set()
        assert await database.run("alice", _count) == 0
    finally:
        release_first.set()
        database.close()


async def test_a_thread_whose_connection_broke_reads_on_a_new_one(database: Database) -> None:
    # Each database thread keeps its connection (research P23). One that breaks under it is given
    # back: the read is asked once more (ConnectionLost) on a new connection, and succeeds.
    held: list[Connection] = []

    def remember(connection: Connection) -> int:
        held.append(connection)
        return _count(connection)

    try:
        for _ in range(8):  # every reader thread has drawn its connection
            await asyncio.gather(*(database.run("alice", remember) for _ in range(8)))
        for connection in {id(c): c for c in held}.values():
            dbapi = connection.connection.dbapi_connection
            assert dbapi is not None
            dbapi.close()  # "Cannot operate on a closed database": a disconnect to SQLAlchemy
        held.clear()
        assert await asyncio.gather(*(database.run("alice", remember) for _ in range(8))) == [0] * 8
        assert all(not connection.invalidated for connection in held)
    finally:
        database.close()
