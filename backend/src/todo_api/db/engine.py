"""The engine and its pool: SQLite by default, PostgreSQL (psycopg 3) by configuration; the
start-up wait for a database that is still coming up."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from todo_api.db.disk import disk_failure
from todo_api.db.driver import prelude_before_execute

# psycopg's own default: a statement is prepared server-side on its fifth run on a connection.
PSYCOPG_PREPARE_THRESHOLD = 5

# How long a SQLite writer waits for the write lock before "database is locked" (both the
# driver's timeout and the busy_timeout pragma say this).
SQLITE_BUSY_SECONDS = 15


@dataclass(frozen=True)
class PoolOptions:
    """Connections of one process: pool limits (DB_POOL_SIZE, DB_MAX_OVERFLOW, DB_POOL_TIMEOUT,
    DB_CONNECT_TIMEOUT) and whether PostgreSQL statements may be prepared server-side
    (DB_PREPARED_STATEMENTS)."""

    size: int = 5
    max_overflow: int = 10
    timeout: float = 10
    connect_timeout: int = 5
    prepared_statements: bool = False


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
        # No pre-ping: its round trip at every checkout cost more than a transaction's own
        # exchange (research P22). A connection the server dropped (restart, failover, idle
        # timeout of a managed service) is found by the transaction that draws it: the pool is
        # replaced, a read is run again on a new connection, a write answers 503
        # (transactions.py).
        # prepare_threshold=None: psycopg never prepares a statement server-side. A prepared
        # statement lives on one server connection, and a transaction pooler (PgBouncer in
        # transaction mode) may give the next transaction another one ("_pg3_0" already exists
        # / does not exist). Nothing else we send outlives its transaction either
        # (docs/deploying.md, "Behind a transaction pooler"). Connected directly, preparing
        # saves PostgreSQL's parse and plan: an opt-in (measured: research.md, D1).
        threshold = PSYCOPG_PREPARE_THRESHOLD if pool.prepared_statements else None
        engine = create_engine(
            url,
            connect_args={
                "connect_timeout": pool.connect_timeout,
                "application_name": "todo-api",
                "prepare_threshold": threshold,
            },
            **limits,
        )
        # Connection.execute, and exec_driver_sql (which `before_execute` does not see): no
        # statement of a bound transaction runs before its bind.
        event.listen(engine, "before_execute", prelude_before_execute)
        event.listen(engine, "before_cursor_execute", prelude_before_execute)
        return engine

    connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS}
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args=connect_args, **limits)
    else:
        engine = create_engine(url, connect_args=connect_args)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
        # WAL lets readers proceed while one writer commits; busy_timeout queues writers
        # instead of failing them with "database is locked".
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def ping(engine: Engine) -> None:
    """One read. A pooled connection found dead (no pre-ping) is no sign of an outage:
    SQLAlchemy has replaced the pool, and the read is asked once more."""
    try:
        _select_one(engine)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        _select_one(engine)


def _select_one(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def disk_not_ready(engine: Engine, error: BaseException) -> DatabaseNotReady | None:
    """The database's disk is full or failing: not "not ready yet", an operator's problem now."""
    failure = disk_failure(error)
    if failure is None:
        return None
    if engine.dialect.name == "postgresql":
        return DatabaseNotReady(
            f"the disk of the PostgreSQL server at {describe(engine)} (DATABASE_URL) is full: "
            "free space on the server"
        )
    where = Path(engine.url.database or ".").resolve().parent
    what = "is full" if failure == "full" else "fails (disk I/O error)"
    return DatabaseNotReady(
        f"the disk of the database at {describe(engine)} (DATABASE_URL) {what}: free space "
        f"in {where}, or check the disk"
    )


def wait_for_database(engine: Engine, timeout: float) -> None:
    """Retry for up to `timeout` seconds: at deploy time the database often starts alongside us.
    A SQLite disk that is full or failing is reported at once: waiting would not fill it."""
    deadline = time.monotonic() + timeout
    delay = 0.25
    while True:
        try:
            ping(engine)
            return
        except OperationalError as exc:
            disk = disk_not_ready(engine, exc)
            if disk is not None:
                raise disk from None
            if time.monotonic() + delay > deadline:
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "no answer"
                raise DatabaseNotReady(
                    f"cannot connect to the database at {describe(engine)} "
                    f"(DATABASE_URL) within {timeout:g} s: {reason}"
                ) from None
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
