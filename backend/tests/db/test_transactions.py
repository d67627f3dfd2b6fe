"""db/transactions.py: on SQLite, writers of one process take turns on the writer thread, and
readers go on while a write transaction is open; on PostgreSQL, each database thread's own
connection, its binds and its replacement."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection, text

from fixtures import pg_databases
from fixtures.api import User, asgi_client, create_task, make_settings, running_app
from todo_api.db import Database, PoolOptions, make_engine
from todo_api.db.lifecycle import upgrade
from todo_api.db.transactions import ConnectionLost
from todo_api.errors import DatabaseUnavailable
from todo_api.middleware.request_id import InFlight
from todo_api.tasks import store

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


async def test_a_write_whose_disk_cannot_be_read_is_refused_503_and_writes_nothing(
    tmp_path: Path,
) -> None:
    """The free-space check before a write (`_room_to_write`) failing: the disk is down, the
    write never begins, and reads go on."""
    engine = make_engine(f"sqlite:///{tmp_path / 'here' / 'tasks.db'}")
    upgrade(engine)
    database = Database(engine, threads=5)
    try:
        await database.write("alice", lambda c: _insert(c, "before"))
        assert await database.run("alice", _count) == 1  # a reader thread holds its connection
        # The open files go on working; the directory's path no longer answers `statvfs`.
        (tmp_path / "here").rename(tmp_path / "moved")
        with pytest.raises(DatabaseUnavailable) as refused:
            await database.write("alice", lambda c: _insert(c, "refused"))
        assert refused.value.disk
        assert refused.value.reason is not None
        assert refused.value.reason.startswith("FileNotFoundError")
        assert database.disk is not None
        assert not database.disk.up
        assert await database.run("alice", _count) == 1
    finally:
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


def _where(connection: Connection) -> tuple[str, list[tuple[object, ...]]]:
    """The thread that ran the read, and what it read."""
    rows = connection.execute(text("SELECT id, title FROM tasks ORDER BY id")).all()
    return threading.current_thread().name, [tuple(row) for row in rows]


async def test_a_read_runs_on_the_loop_only_while_its_request_is_alone_and_reads_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'tasks.db'}")
    upgrade(engine)
    in_flight = InFlight()
    database = Database(engine, threads=5, max_overflow=10, in_flight=in_flight)
    loop_thread = threading.current_thread().name
    try:
        for title in ("one", "two"):
            await database.write("alice", lambda c, title=title: _insert(c, title))
        in_flight.count = 1  # this request alone: on the loop, on its own connection
        alone = await database.run("alice", _where)
        in_flight.count = 2  # another request under way: on a database thread
        among = await database.run("alice", _where)
        assert alone[0] == loop_thread
        assert among[0].startswith("db-")
        assert alone[1] == among[1] == [(1, "one"), (2, "two")]
        # Counted alone, but the server has started another request's task, not yet run.
        in_flight.count = 1
        monkeypatch.setattr(InFlight, "server_tasks", {"this", "another"})
        assert (await database.run("alice", _where))[0].startswith("db-")
        monkeypatch.setattr(InFlight, "server_tasks", {"this"})
        assert (await database.run("alice", _where))[0] == loop_thread
        # A write never runs on the loop: SQLite's one writer queues on its thread.
        assert (await database.write("alice", _where))[0] == "db-writer-0"
        # The loop's connection sees what the writer committed (WAL: readers beside it).
        await database.write("alice", lambda c: _insert(c, "three"))
        assert [title for _, title in (await database.run("alice", _where))[1]] == [
            "one",
            "two",
            "three",
        ]
        database.close()
        # At shutdown (close runs on a thread while cancelled requests are answered), the
        # loop's connection is closed: a read then hops.
        assert (await database.run("alice", _where))[0].startswith("db-")
    finally:
        database.close()


async def test_reads_hop_without_a_request_count_or_room_in_the_pool(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'tasks.db'}")
    upgrade(engine)
    in_flight = InFlight()
    in_flight.count = 1
    # No counter (a Database built without the app); the pool's overflow taken by the threads
    # and /readyz's ping (threads=5: 4 readers and the writer).
    for database in (
        Database(engine, threads=5, max_overflow=10),
        Database(engine, threads=5, max_overflow=1, in_flight=in_flight),
    ):
        try:
            assert (await database.run("alice", _where))[0].startswith("db-")
        finally:
            database.close()


async def test_through_the_app_a_read_alone_runs_on_the_loop_and_one_beside_a_write_hops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, alice: User
) -> None:
    """The same answers, byte for byte, either way; the count is the app's own
    (RequestIdMiddleware), not a test's."""
    ran: list[str] = []
    holding, release = threading.Event(), threading.Event()

    def spy(read: Callable[..., Any]) -> Callable[..., Any]:
        def spied(*args: Any, **kwargs: Any) -> Any:
            ran.append(threading.current_thread().name)
            return read(*args, **kwargs)

        return spied

    def held(create: Callable[..., Any]) -> Callable[..., Any]:
        def create_when_released(*args: Any, **kwargs: Any) -> Any:
            holding.set()
            assert release.wait(10)
            return create(*args, **kwargs)

        return create_when_released

    async with (
        running_app(make_settings(tmp_path)) as app,
        asgi_client(app) as client,
    ):
        task = await create_task(client, alice, "first")
        paths = [f"/api/{alice.id}/tasks", f"/api/{alice.id}/tasks/{task['id']}"]
        monkeypatch.setattr(store, "list_page", spy(store.list_page))
        monkeypatch.setattr(store, "get_task", spy(store.get_task))
        alone = [await client.get(path, headers=alice.headers) for path in paths]
        assert ran == [threading.current_thread().name] * 2
        monkeypatch.setattr(store, "create_task", held(store.create_task))
        writing = asyncio.ensure_future(create_task(client, alice, "second"))
        try:
            assert await asyncio.to_thread(holding.wait, 10)
            beside = [await client.get(path, headers=alice.headers) for path in paths]
        finally:
            release.set()
            await writing
        assert len(ran) == 4
        assert all(name.startswith("db-") for name in ran[2:]), ran
        for one, other in zip(alone, beside, strict=True):
            assert one.status_code == other.status_code == 200
            assert one.content == other.content
            assert one.headers.get("etag") == other.headers.get("etag")


# PostgreSQL: each database thread keeps its connection too (research P34).


@pytest.fixture
def pg_database(postgres: pg_databases.Database) -> Iterator[Database]:
    database = Database(make_engine(postgres.app_url, PoolOptions(size=3, max_overflow=0)), 3)
    yield database
    database.close()


def _backend(connection: Connection) -> int:
    # Through SQLAlchemy's execute: in a bound transaction, the bind runs first.
    return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _seen(connection: Connection) -> int:
    return int(connection.execute(text("SELECT count(*) FROM tasks")).scalar_one())


def _create(connection: Connection) -> int:
    task = store.create_task(
        connection, owner_id="alice", title="t", description=None, completed=False
    )
    assert task is not None
    return task.id


async def test_on_postgresql_a_thread_keeps_its_connection_and_each_bind_ends_with_its_transaction(
    pg_database: Database,
) -> None:
    await pg_database.write("alice", _create)
    backends = {await pg_database.run("alice", _backend) for _ in range(5)}
    assert len(backends) == 1  # one request at a time: one thread, one connection
    assert await pg_database.run("alice", _seen) == 1
    # The same connection, bound to nobody in the next transaction: RLS shows nothing.
    assert await pg_database.run(None, _seen) == 0
    assert await pg_database.run("bob", _seen) == 0


async def test_on_postgresql_a_single_read_sends_no_commit_of_its_own(
    pg_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its one exchange carries the bind, the statement and the COMMIT: SQLAlchemy's begin and
    # commit around it would add nothing but time.
    await pg_database.write("alice", _create)
    commits: list[str] = []
    real = psycopg.Connection.commit

    def spy(connection: psycopg.Connection[Any]) -> None:
        commits.append("COMMIT")
        real(connection)

    monkeypatch.setattr(psycopg.Connection, "commit", spy)
    read = await pg_database.run(
        "alice", lambda c: store.get_task(c, owner_id="alice", task_id=1), single=True
    )
    assert read is not None
    assert commits == []
    await pg_database.write("alice", _create)
    assert commits == ["COMMIT"]


@pytest.mark.parametrize("fails", [False, True], ids=["returns", "raises"])
async def test_on_postgresql_a_single_transaction_that_runs_sqlalchemys_execute_ends_it(
    pg_database: Database, fails: bool
) -> None:
    # The statement opens SQLAlchemy's own transaction (bound first): it must end with the
    # block, or the bind would outlive it on the thread's connection.
    await pg_database.write("alice", _create)

    def read(connection: Connection) -> int:
        seen = _seen(connection)
        if fails:
            raise LookupError
        return seen

    if fails:
        with pytest.raises(LookupError):
            await pg_database.run("alice", read, single=True)
    else:
        assert await pg_database.run("alice", read, single=True) == 1
    assert await pg_database.run(None, _seen) == 0


async def test_on_postgresql_a_lost_connection_costs_one_503_not_one_per_thread(
    pg_database: Database, postgres: pg_databases.Database
) -> None:
    # Every thread holds a connection; the server drops them all. The write that finds out is
    # a 503 (it may have committed: never retried); every thread then draws a new connection.
    await pg_database.write("alice", _create)
    for _ in range(4):
        await asyncio.gather(*(pg_database.run("alice", _backend) for _ in range(6)))
    admin = postgres.admin_engine()
    with admin.begin() as connection:
        dropped = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": postgres.name},
        ).scalar_one()
    admin.dispose()
    assert dropped == 3
    with pytest.raises(ConnectionLost):
        await pg_database.write("alice", _create)
    written = await asyncio.gather(*(pg_database.write("alice", _create) for _ in range(6)))
    assert len(written) == 6


async def test_on_postgresql_a_burst_holds_no_more_connections_than_threads(
    pg_database: Database, postgres: pg_databases.Database
) -> None:
    # PostgreSQL's connection slots are shared by every process (and every test process): the
    # kept connections are the threads', as many as the pool would keep (research P34, P35).
    await pg_database.write("alice", _create)
    backends = await asyncio.gather(
        *(pg_database.run("alice", _backend) for _ in range(30)),
        *(pg_database.write("alice", _create) for _ in range(10)),
    )
    assert len(set(backends[:30])) <= 3
    admin = postgres.admin_engine()
    with admin.begin() as connection:
        opened = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": postgres.name},
        ).scalar_one()
    admin.dispose()
    assert opened <= 3
