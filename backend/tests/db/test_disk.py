"""db/disk.py and the transaction's mapping: the database's disk failures (SQLite's, and
PostgreSQL's full disk) are told apart from a database that does not answer."""

from __future__ import annotations

import sqlite3

import psycopg.errors
import pytest
from sqlalchemy.exc import OperationalError

from todo_api.db.disk import MIN_FREE_BYTES, disk_failure, too_little_free
from todo_api.db.transactions import unavailable
from todo_api.errors import DatabaseUnavailable, StorageFull

pytestmark = pytest.mark.unit


def sqlite_error(message: str, code: int) -> OperationalError:
    driver = sqlite3.OperationalError(message)
    driver.sqlite_errorcode = code  # type: ignore[attr-defined]
    return OperationalError("INSERT …", {}, driver)


def test_a_full_disk_is_507_storage_full_with_its_reason() -> None:
    error = unavailable(sqlite_error("database or disk is full", 13))
    assert isinstance(error, StorageFull)
    assert (error.status, error.slug) == (507, "storage-full")
    assert error.reason == "OperationalError: database or disk is full"
    assert "Retry-After" not in error.headers  # no retry helps until space is freed


def test_a_full_disk_on_postgresql_is_507_storage_full() -> None:
    driver = psycopg.errors.DiskFull('could not extend file "base/1/2": No space left on device')
    error = unavailable(OperationalError("INSERT …", {}, driver))
    assert isinstance(error, StorageFull)
    assert error.reason.startswith("DiskFull: could not extend file")
    # Other "insufficient resources" (class 53) are the database's, not its disk's.
    too_many = psycopg.errors.TooManyConnections("too many clients")
    assert disk_failure(OperationalError("SELECT 1", {}, too_many)) is None


def test_a_disk_io_error_is_503_with_retry_after_and_blames_the_disk() -> None:
    error = unavailable(sqlite_error("disk I/O error", 778))  # SQLITE_IOERR_WRITE
    assert isinstance(error, DatabaseUnavailable)
    assert error.disk
    assert error.status == 503
    assert error.headers["Retry-After"] == "2"


def test_other_failures_are_the_database_not_the_disk() -> None:
    assert disk_failure(sqlite_error("database is locked", 5)) is None
    assert disk_failure(OperationalError("SELECT 1", {}, Exception("connection refused"))) is None
    error = unavailable(sqlite_error("database is locked", 5))
    assert isinstance(error, DatabaseUnavailable)
    assert not error.disk
    assert error.reason == "OperationalError: database is locked"


def test_writes_stop_below_the_free_space_readyz_needs_and_not_at_it() -> None:
    assert too_little_free(MIN_FREE_BYTES) is None
    assert too_little_free(MIN_FREE_BYTES - 1) == f"{MIN_FREE_BYTES - 1} bytes free, below 4194304"
    assert too_little_free(0) == "0 bytes free, below 4194304"
