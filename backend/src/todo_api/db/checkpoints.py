"""A SQLite file's checkpoints on a thread of their own, so that no write waits for one.

In WAL mode a commit appends to the log, and a checkpoint copies the log back into the database
file and syncs that file. SQLite runs one inside the commit that takes the log past 1,000 pages
(`wal_autocheckpoint`): that commit, on the one writer thread, waits for the copy and the sync,
and so does every write queued behind it (research P38). Here a thread checkpoints every
`interval` in PASSIVE mode, which waits for no reader or writer and takes no lock they wait for,
so the log seldom reaches the threshold. When writes outrun the thread, a commit still
checkpoints as before: the log stays bounded either way, and nothing else about a commit changes
(its own sync, before the reply, included).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("todo_api.db")

INTERVAL_SECONDS = 0.25


class Checkpoints:
    """`start` begins checkpointing the database at `path` every `interval` seconds on a thread
    of its own (`db-checkpoints`) with a connection of its own; `close` stops it (at shutdown,
    before the pool's connections close, the last of which checkpoints what is left)."""

    def __init__(self, path: Path, interval: float = INTERVAL_SECONDS) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="db-checkpoints", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        # Opened here: a connection belongs to the thread that made it. The file exists (the
        # app starts this after migrating), so nothing is created.
        connection = sqlite3.connect(self.path, isolation_level=None)
        try:
            while not self._stop.wait(self.interval):
                self.checkpoint(connection)
        finally:
            connection.close()

    def checkpoint(self, connection: sqlite3.Connection) -> None:
        """One PASSIVE checkpoint. A failure is logged once, and its end once: the writes that
        meet the same disk report it to their clients (507, 503), and a commit still
        checkpoints past the threshold."""
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            if not self._failing:
                self._failing = True
                log.warning("sqlite checkpoints failing", extra={"error": str(exc)})
            return
        if self._failing:
            self._failing = False
            log.info("sqlite checkpoints resumed")
