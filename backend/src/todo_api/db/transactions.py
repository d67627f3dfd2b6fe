"""Transactions bound to the caller, and the threads that run the blocking driver off the loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Connection, Engine, bindparam, func, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from todo_api.db.checkpoints import Checkpoints
from todo_api.db.disk import disk_failure, free_bytes, probe, too_little_free
from todo_api.db.driver import ONE_EXCHANGE, TRANSACTION_IDLE, DriverStatement, Exchange
from todo_api.db.threads import Threads
from todo_api.dependencies import DATABASE, DISK, Dependency, reason_of
from todo_api.errors import DatabaseUnavailable, StorageFull

if TYPE_CHECKING:
    from todo_api.middleware.request_id import InFlight

T = TypeVar("T")

# Built once and compiled once per dialect, run on the driver (research P19).
_BIND_USER = DriverStatement(select(func.set_config("app.user_id", bindparam("user_id"), True)))


def bind_user(connection: Connection, user_id: str) -> None:
    """Tell PostgreSQL whose transaction this is, for the Row-Level Security policies.

    `is_local=true`: the setting ends with the transaction, so a pooled connection never carries
    one request's user into the next. SQLite has no RLS; there the owner filter is the only wall.
    """
    if connection.dialect.name == "postgresql":
        _BIND_USER.rows(connection, {"user_id": user_id})


class ConnectionLost(DatabaseUnavailable):
    """The connection broke under the transaction (a server restart, a failover, a backend
    terminated): 503 like any unavailability, and the pool was emptied of its siblings."""


@contextmanager
def transaction(
    engine: Engine, user_id: str | None = None, *, single: bool = False
) -> Iterator[Connection]:
    """One transaction per request, bound to `user_id`: committed when the block ends, rolled
    back on error.

    On PostgreSQL the bind goes with the block's first statement run through `DriverStatement`,
    in one exchange. `single`: the block runs exactly that one statement; the bind, it and the
    COMMIT then go together (driver.py), and the block runs on after the commit: a second
    statement is refused (`SecondStatement`). Otherwise the exchange is BEGIN, the bind and the
    statement; the block's other statements follow in the transaction it opened, and the
    COMMIT goes when the block ends without an error: never before the caller knows it will
    answer (research P22, P27). Elsewhere this changes nothing.

    A Core connection, not an ORM session: the store issues single Core statements, and the
    session's unit-of-work bookkeeping cost time on every request for nothing (research P6).
    """
    try:
        with engine.connect() as connection:
            exchange = None
            if user_id is not None and connection.dialect.name == "postgresql":
                exchange = Exchange([(_BIND_USER, {"user_id": user_id})], opens=not single)
                connection.info[ONE_EXCHANGE] = exchange
            try:
                with connection.begin():
                    if exchange is None and user_id is not None:
                        bind_user(connection, user_id)
                    yield connection
            finally:
                if exchange is not None:
                    _closed(connection, exchange)
    except (DBAPIError, PoolTimeout) as exc:
        failure = failed(engine, exc)
        if failure is None:
            raise
        raise failure from None


def _single(connection: Connection, work: Callable[[Connection], T]) -> T:
    """A single-statement transaction on PostgreSQL without SQLAlchemy's begin and commit: its
    one exchange carries the bind, the statement and the COMMIT (driver.py), so there is nothing
    for them to do. A statement `work` runs through `Connection.execute` instead opens
    SQLAlchemy's own transaction (its bind first: `prelude_before_execute`): committed when
    `work` returns, rolled back when it raises."""
    try:
        result = work(connection)
    except BaseException:
        if connection.in_transaction():
            connection.rollback()
        raise
    if connection.in_transaction():
        connection.commit()
    return result


def _closed(connection: Connection, exchange: Exchange) -> None:
    """After the transaction's COMMIT or ROLLBACK, before the connection goes back to the pool:
    no exchange waits in it, and a transaction that opened in one exchange (in psycopg's
    autocommit) gives back a connection out of autocommit, or none."""
    if connection.invalidated:
        return
    connection.info.pop(ONE_EXCHANGE, None)
    if not (exchange.opens and exchange.sent):
        return
    driver = connection.connection.driver_connection
    if driver is None or driver.closed:
        return
    if driver.info.transaction_status == TRANSACTION_IDLE:
        driver.autocommit = False
    else:
        # Not ended (cannot happen after commit() or rollback(), which end it or lose the
        # connection): a connection in autocommit would run a later transaction's statements
        # each on its own, so it is never used again.
        connection.invalidate()


def failed(
    engine: Engine, error: DBAPIError | PoolTimeout
) -> DatabaseUnavailable | StorageFull | None:
    """The API's error for the store failing under a transaction (None: not the store's
    failure, e.g. a constraint the caller handles): gone, unreachable, locked, the connection
    dropped mid-transaction, the pool exhausted. Not our code: the transaction rolled back and
    the caller may retry, so 503; SQLite's full disk is a 507 of its own, since a retry fails
    until an operator frees space."""
    if isinstance(error, PoolTimeout):
        # This process holds every connection: the database is not at fault (reason None).
        return DatabaseUnavailable()
    if error.connection_invalidated:
        return lost(engine, error)
    if isinstance(error, (OperationalError, InterfaceError)):
        return unavailable(error)
    return None


def lost(engine: Engine, error: DBAPIError) -> ConnectionLost:
    """A connection broke: its siblings in the pool most likely did too (the server restarted or
    terminated them), so the pool is replaced, as SQLAlchemy does on a disconnect it sees itself.
    The pool checks no connection out with a ping (engine.py): this is how a dead one is found
    (research P22)."""
    engine.dispose()
    return ConnectionLost(reason=reason_of(error))


def unavailable(error: DBAPIError) -> DatabaseUnavailable | StorageFull:
    """The API's error for a driver failure, with the reason for the log line."""
    reason = reason_of(error)
    failure = disk_failure(error)
    if failure == "full":
        return StorageFull(reason)
    if failure == "io":
        return DatabaseUnavailable(
            "The database's disk failed: nothing was written", reason=reason, disk=True
        )
    return DatabaseUnavailable(reason=reason)


class RequestAbandoned(Exception):
    """The request that opened a transaction was cancelled before the transaction ended."""


class Database:
    """The engine, and the threads that run the blocking driver off the event loop.

    One transaction per call, in one hop to a thread: the service's methods are awaited from
    `async def` handlers. As sync handlers, FastAPI sent each one to its thread pool and then the
    response's validation to it a second time (docs/benchmarks.md). As many threads as the pool
    keeps connections: a connection returned by one request is taken by the next, never closed as
    overflow and reopened (under load, the default pool opened a PostgreSQL connection for every
    other request).

    On SQLite, whose file has one write lock, transactions that write (`write`) queue for one
    writer thread of their own, and the other threads only read: writers of this process wait
    their turn in a queue instead of in SQLite's busy handler, which sleeps in growing steps (up
    to 100 ms a retry) and holds a thread while it sleeps (research P12). PostgreSQL locks rows,
    not the database: there every transaction takes any thread.
    """

    def __init__(
        self,
        engine: Engine,
        threads: int,
        *,
        max_overflow: int = 0,
        in_flight: InFlight | None = None,
    ) -> None:
        self.engine = engine
        self._serial_writes = engine.dialect.name == "sqlite"
        # Does the database answer; and does its disk take writes: a SQLite file's own disk,
        # probed; PostgreSQL's, the server's, seen only in its answers (down on `disk_full`, up
        # at the next write it takes). An in-memory SQLite database has no disk.
        self.status = Dependency(DATABASE)
        database = engine.url.database
        on_disk = self._serial_writes and database not in (None, "", ":memory:")
        postgres = engine.dialect.name == "postgresql"
        self.disk = Dependency(DISK) if on_disk or postgres else None
        self._directory = Path(database).resolve().parent if on_disk and database else None
        # A SQLite file's checkpoints off the writer thread, from `start` (checkpoints.py).
        self._checkpoints = Checkpoints(Path(database)) if on_disk and database else None
        # Each database thread keeps one connection for its life, drawn from the pool on its
        # first transaction: no checkout and check-in per transaction (research P23, P34). As
        # many threads as the pool keeps connections, so no more are open than with a checkout
        # per transaction. A dead PostgreSQL connection is found by the transaction that uses
        # it (no pre-ping, research P22): invalidated, the pool replaced, and the held
        # `Connection` draws a new one at its next use.
        self._postgres = postgres
        self._held = threading.local()
        # Bumped when a connection is found lost: the server most likely dropped its siblings
        # too, so each thread replaces the connection it holds at its next transaction, as
        # `lost` replaces the pool's (one 503, not one per thread).
        self._generation = 0
        self._held_connections: list[Connection] = []
        self._held_lock = threading.Lock()
        # With a writer thread, one connection of the pool is its: the others read.
        readers = threads - 1 if self._serial_writes else threads
        self._readers = Threads(max(1, readers), "db")
        self._writer = Threads(1, "db-writer")
        # SQLite on disk: a read whose request is the only one in flight runs on the event loop,
        # on a connection of the loop's own (WAL: beside the writer), when the pool has room
        # for it beside the threads' and one more (DB_MAX_OVERFLOW; /readyz checks one out on the
        # loop): nobody else waits for the loop, and the hop to a thread and back would be pure
        # overhead. With other requests in flight, reads hop: the loop is then the bottleneck,
        # and threads run SQLite's C work beside it (research P16, P23, P29). None: every read
        # hops (a Database built without the app).
        room = threads + max_overflow - (max(1, readers) + 1)
        self._in_flight = in_flight if on_disk and room >= 2 else None
        self._loop_lock = threading.Lock()
        self._closing = False

    async def run(
        self, user_id: str | None, work: Callable[[Connection], T], *, single: bool = False
    ) -> T:
        """`work(connection)` in one transaction bound to `user_id`, on a database thread (None:
        bound to no user, which on PostgreSQL sees no task at all); on SQLite, on the event loop
        itself while its request is the only one in flight (`__init__`). It only reads: when the
        connection it drew is found dead, it runs once more on a new one.

        The transaction commits before this returns, so no response is sent for a write that
        then failed to commit. `single`: `work` runs exactly one statement (see `transaction`).
        """
        return await self._run(user_id, work, writes=False, single=single)

    async def write(self, user_id: str | None, work: Callable[[Connection], T]) -> T:
        """As `run`, for a transaction that writes: on SQLite, on the one writer thread; never
        run twice (a write whose connection broke may have committed: 503, the client decides).

        Never in one exchange: a write whose request is cancelled at shutdown must be rolled back,
        since its client is told "nothing was written", and the COMMIT of a single exchange is
        already on the server with the statement (research P22)."""
        return await self._run(user_id, work, writes=True, single=False)

    async def _run(
        self, user_id: str | None, work: Callable[[Connection], T], *, writes: bool, single: bool
    ) -> T:
        abandoned = False

        def committed(connection: Connection) -> T:
            result = work(connection)
            if abandoned:
                # The request was cancelled (the shutdown's grace period ran out): nobody will
                # be told of this write, so it must not happen. Rolls back. (Reads only in a
                # single exchange, whose commit went with it: nothing to undo.)
                raise RequestAbandoned
            return result

        def once() -> T:
            return self._on_held(user_id, committed, single=single)

        def in_transaction() -> T:
            if writes:
                self._room_to_write()
                return once()
            try:
                return once()
            except ConnectionLost:
                # A read has no effect to repeat; the pool was replaced, so this draws a new
                # connection. Once only: a database that is away stays a 503.
                return once()

        serial = writes and self._serial_writes
        try:
            if not writes and self._in_flight is not None and self._in_flight.alone():
                result = await self._read_on_loop(in_transaction)
            else:
                result = await (self._writer if serial else self._readers).call(in_transaction)
        except asyncio.CancelledError:
            abandoned = True
            raise
        except StorageFull as exc:
            self._disk_failed(exc.reason)
            raise
        except DatabaseUnavailable as exc:
            if exc.reason is not None:
                if exc.disk:
                    self._disk_failed(exc.reason)
                else:
                    self.status.failed(exc.reason)
            raise
        # While all is well, two attribute reads: the transitions are the rare case.
        if not self.status.up:
            self.status.recovered()
        if writes and self.disk is not None and not self.disk.up:
            self._wrote_again()
        return result

    async def _read_on_loop(self, read: Callable[[], T]) -> T:
        """`read()` here, on the loop thread's own connection (held as each thread holds one);
        after `close`, on a thread. The lock keeps `close`, which runs on a thread at shutdown
        while cancelled requests are still answered, from closing that connection under a
        read."""
        with self._loop_lock:
            if not self._closing:
                return read()
        return await self._readers.call(read)

    def _on_held(self, user_id: str | None, work: Callable[[Connection], T], *, single: bool) -> T:
        """`work` in one transaction on this thread's own connection, bound to `user_id` on
        PostgreSQL as `transaction` binds it (SQLite has no RLS: the owner filter is in every
        statement). Its errors are mapped as `transaction` maps them. A driver connection found
        broken is invalidated by SQLAlchemy (`ConnectionLost`: a read is asked once more), and
        the held `Connection` then draws a new one from the pool at its next use."""
        held = self._held
        connection: Connection | None = getattr(held, "connection", None)
        try:
            if connection is None or held.generation != self._generation:
                connection = self._hold_one(connection)
            if user_id is None or not self._postgres:
                with connection.begin():
                    return work(connection)
            exchange = Exchange([(_BIND_USER, {"user_id": user_id})], opens=not single)
            connection.info[ONE_EXCHANGE] = exchange
            try:
                if single:
                    return _single(connection, work)
                with connection.begin():
                    return work(connection)
            finally:
                _closed(connection, exchange)
        except (DBAPIError, PoolTimeout) as exc:
            failure = failed(self.engine, exc)
            if failure is None:
                raise
            if isinstance(failure, ConnectionLost):
                with self._held_lock:
                    self._generation += 1
            raise failure from None

    def _hold_one(self, stale: Connection | None) -> Connection:
        """This thread's connection, new: drawn from the pool, in place of `stale` (one from
        before a connection was lost, closed without a word to the server)."""
        held = self._held
        held.connection = None
        if stale is not None:
            with self._held_lock, suppress(ValueError):  # ValueError: `close` took it
                self._held_connections.remove(stale)
            with suppress(DBAPIError):
                stale.invalidate()
                stale.close()
        held.generation = self._generation
        connection = self.engine.connect()
        with self._held_lock:
            self._held_connections.append(connection)
        held.connection = connection
        return connection

    def _room_to_write(self) -> None:
        """On a SQLite file, refuse a write (507) while its disk has less than MIN_FREE_BYTES free,
        the threshold at which /readyz says not ready: refused by this rule, not by whether the
        write happens to fit in the log's pages that a checkpoint has emptied (research P39). On
        the writer thread, before the transaction: nothing is written."""
        if self._directory is None:
            return
        try:
            free = free_bytes(self._directory)
        except OSError as exc:
            raise DatabaseUnavailable(
                "The database's disk failed: nothing was written", reason=reason_of(exc), disk=True
            ) from None
        reason = too_little_free(free)
        if reason is not None:
            raise StorageFull(reason)

    def _wrote_again(self) -> None:
        """A write went through while the disk was down: on PostgreSQL the only sign that the
        server's disk has space again; a SQLite file's disk is probed to be sure."""
        if self._directory is None:
            assert self.disk is not None
            self.disk.recovered()
        else:
            self.disk_problem()

    def _disk_failed(self, reason: str) -> None:
        if self.disk is not None:
            self.disk.failed(reason)

    def disk_problem(self) -> str | None:
        """Why the SQLite file's disk cannot take writes now, or None: too little free space
        (`disk` goes down before writes fail), or, while it is down, a probe write that fails.
        Called by /readyz, so a disk that gets space back comes back by itself, without waiting
        for a write. Always None on PostgreSQL: its disk is shared by every instance, and taking
        them all out of rotation for a write outage would stop the reads too."""
        if self.disk is None or self._directory is None:
            return None
        try:
            reason = too_little_free(free_bytes(self._directory))
            if reason is not None:
                self.disk.failed(reason)
                return reason
            if not self.disk.up:
                probe(self._directory)
        except OSError as exc:
            reason = f"{type(exc).__name__}: {exc.strerror or exc}"
            self.disk.failed(reason)
            return reason
        if not self.disk.up:
            self.disk.recovered()
        return None

    def start(self) -> None:
        """The background work of a served database, once it is migrated: a SQLite file's
        checkpoints (checkpoints.py). A Database built without the app does none."""
        if self._checkpoints is not None:
            self._checkpoints.start()

    def close(self) -> None:
        """Wait for the transactions under way, then close the connections (at shutdown)."""
        with self._loop_lock:
            self._closing = True
        if self._checkpoints is not None:
            self._checkpoints.close()
        self._readers.close()
        self._writer.close()
        with self._held_lock:
            held, self._held_connections = self._held_connections, []
        for connection in held:
            with suppress(DBAPIError):
                connection.close()
        self.engine.dispose()
