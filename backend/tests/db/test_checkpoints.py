"""db/checkpoints.py: a SQLite file's log is copied into the file by a thread of its own, not by
the commit that fills it; the thread stops with the app; a failing checkpoint is said once."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from fixtures.api import make_settings, running_app
from todo_api.db.checkpoints import Checkpoints


def _database(tmp_path: Path) -> tuple[Path, sqlite3.Connection]:
    path = tmp_path / "wal.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
    writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the table itself in the file
    return path, writer


def _in_the_file(path: Path) -> int:
    """Rows of the database file alone, ignoring its log (`immutable`: no WAL is read)."""
    reader = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return int(reader.execute("SELECT count(*) FROM notes").fetchone()[0])
    finally:
        reader.close()


def _until(condition: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.02)
    return False


def test_a_commit_leaves_its_pages_in_the_log_and_the_thread_copies_them(tmp_path: Path) -> None:
    path, writer = _database(tmp_path)
    writer.execute("INSERT INTO notes DEFAULT VALUES")
    # Far below the 1,000 pages at which a commit checkpoints by itself.
    assert _in_the_file(path) == 0
    checkpoints = Checkpoints(path, interval=0.02)
    checkpoints.start()
    try:
        assert _until(lambda: _in_the_file(path) == 1)
        writer.execute("INSERT INTO notes DEFAULT VALUES")
        assert _until(lambda: _in_the_file(path) == 2)
    finally:
        checkpoints.close()
        writer.close()


def _checkpoint_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "db-checkpoints"]


@pytest.mark.anyio
async def test_the_served_app_checkpoints_its_file_until_it_stops(tmp_path: Path) -> None:
    assert _checkpoint_threads() == []
    async with running_app(make_settings(tmp_path)):
        assert len(_checkpoint_threads()) == 1
    assert _checkpoint_threads() == []


def test_a_failing_checkpoint_is_logged_once_and_its_end_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, writer = _database(tmp_path)
    writer.close()
    closed = sqlite3.connect(path)
    closed.close()
    checkpoints = Checkpoints(path)
    with caplog.at_level(logging.INFO, logger="todo_api.db"):
        for _ in range(3):
            checkpoints.checkpoint(closed)
        working = sqlite3.connect(path, isolation_level=None)
        for _ in range(2):
            checkpoints.checkpoint(working)
        working.close()
    assert [record.getMessage() for record in caplog.records] == [
        "sqlite checkpoints failing",
        "sqlite checkpoints resumed",
    ]
    assert "closed database" in caplog.records[0].__dict__["error"]
