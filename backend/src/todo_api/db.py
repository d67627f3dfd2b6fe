"""Engine, pool and transactions: SQLite by default, PostgreSQL (psycopg 3) by configuration."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    bindparam,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from todo_api.errors import ServiceUnavailable


class Base(DeclarativeBase):
    pass


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware UTC datetimes; SQLite drops the zone, so it is put back on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PoolOptions:
    """Connection pool limits of one process (DB_POOL_SIZE, DB_MAX_OVERFLOW, DB_POOL_TIMEOUT)."""

    size: int = 5
    max_overflow: int = 10
    timeout: float = 10
    connect_timeout: int = 5


P = ParamSpec("P")
T = TypeVar("T")


class DatabaseNotReady(Exception):
    """The database cannot be used at start; the message is for an operator, never a password."""


def describe(engine: Engine) -> str:
    """Where the database is, for messages: host, port and name, never the user or password."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return f"sqlite {url.database}"
    return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database}"


def make_engine(url: str, pool: PoolOptions | None = None) -> Engine:
    pool = pool or PoolOptions()
    limits: dict[str, Any] = {
        "pool_size": pool.size,
        "max_overflow": pool.max_overflow,
        "pool_timeout": pool.timeout,
    }
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # pre_ping: a connection the server dropped (restart, failover, idle timeout of a managed
        # service) is replaced at checkout instead of failing the request that draws it.
        return create_engine(
            url,
            pool_pre_ping=True,
            connect_args={"connect_timeout": pool.connect_timeout, "application_name": "todo-api"},
            **limits,
        )

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 15}, **limits
        )
    else:
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
        # WAL lets readers proceed while one writer commits; busy_timeout queues writers
        # instead of failing them with "database is locked".
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def wait_for_database(engine: Engine, timeout: float) -> None:
    """Retry for up to `timeout` seconds: at deploy time the database often starts alongside us."""
    deadline = time.monotonic() + timeout
    delay = 0.25
    while True:
        try:
            ping(engine)
            return
        except OperationalError as exc:
            if time.monotonic() + delay > deadline:
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "no answer"
                raise DatabaseNotReady(
                    f"cannot connect to the database at {describe(engine)} "
                    f"(DATABASE_URL) within {timeout:g} s: {reason}"
                ) from None
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


# Built once: a statement object keeps its compiled form and cache key between requests.
_BIND_USER = select(func.set_config("app.user_id", bindparam("user_id"), True))


def bind_user(connection: Connection, user_id: str) -> None:
    """Tell PostgreSQL whose transaction this is, for the Row-Level Security policies.

    `is_local=true`: the setting ends with the transaction, so a pooled connection never carries
    one request's user into the next. SQLite has no RLS; there the owner filter is the only wall.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(_BIND_USER, {"user_id": user_id})


def transaction(engine: Engine, user_id: str | None = None) -> Iterator[Connection]:
    """One transaction per request, bound to `user_id`: committed when the handler returns,
    rolled back on error.

    A Core connection, not an ORM session: the store issues single Core statements, and the
    session's unit-of-work bookkeeping cost about 60 µs a request for nothing (docs/benchmarks.md).
    A database that cannot be reached is the service being unavailable (503), not a bug (500).
    """
    # The store failing (gone, unreachable, locked, connection dropped mid-transaction, pool
    # exhausted) is not our code: the transaction rolled back, the caller may retry, so 503.
    try:
        with engine.begin() as connection:
            if user_id is not None:
                bind_user(connection, user_id)
            yield connection
    except (OperationalError, InterfaceError, PoolTimeout):
        raise ServiceUnavailable("The database does not answer") from None
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise ServiceUnavailable("The database does not answer") from None
        raise


class RequestAbandoned(Exception):
    """The request that opened a transaction was cancelled before the transaction ended."""


class Database:
    """The engine, and the threads that run the blocking driver off the event loop.

    One transaction per call, in one hop to a thread: route handlers are `async def` and await
    `run`. As sync handlers, FastAPI sent each one to its thread pool and then the response's
    validation to it a second time (docs/benchmarks.md). As many threads as the pool keeps
    connections: a connection returned by one request is taken by the next, never closed as
    overflow and reopened (under load, the default pool opened a PostgreSQL connection for every
    other request).
    """

    def __init__(self, engine: Engine, threads: int) -> None:
        self.engine = engine
        self._threads = max(1, threads)
        self._executor: ThreadPoolExecutor | None = None

    async def run(
        self,
        user_id: str,
        work: Callable[Concatenate[Connection, str, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`work(connection, user_id, ...)` in one transaction bound to `user_id`, on a thread."""

        abandoned = False

        def in_transaction() -> T:
            with contextmanager(transaction)(self.engine, user_id) as connection:
                result = work(connection, user_id, *args, **kwargs)
                if abandoned:
                    # The request was cancelled (the shutdown's grace period ran out): nobody
                    # will be told of this write, so it must not happen. Rolls back.
                    raise RequestAbandoned
                return result

        if self._executor is None:  # only the event loop's thread gets here: no race
            self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="db")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, in_transaction)
        except asyncio.CancelledError:
            abandoned = True
            raise

    def close(self) -> None:
        """Wait for the transactions under way, then close the connections (at shutdown)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self.engine.dispose()
