"""Storage: the engine (engine.py), transactions (transactions.py) and the threads that run them
(threads.py), the ORM base (orm.py), statements run on the driver (driver.py), and the schema's
lifecycle (lifecycle.py, with the Alembic scripts in migrations/)."""

from todo_api.db.driver import DriverStatement
from todo_api.db.engine import (
    SQLITE_BUSY_SECONDS,
    DatabaseNotReady,
    PoolOptions,
    describe,
    make_engine,
    ping,
    wait_for_database,
)
from todo_api.db.orm import Base, UTCDateTime, utc_now
from todo_api.db.transactions import Database, RequestAbandoned, bind_user, transaction

__all__ = [
    "SQLITE_BUSY_SECONDS",
    "Base",
    "Database",
    "DatabaseNotReady",
    "DriverStatement",
    "PoolOptions",
    "RequestAbandoned",
    "UTCDateTime",
    "bind_user",
    "describe",
    "make_engine",
    "ping",
    "transaction",
    "utc_now",
    "wait_for_database",
]
