"""Where a benchmark's data lives: what the harness seeds, and what the server connects as.

SQLite is one file that both sides open. PostgreSQL (bench/pg.py) seeds as a superuser, which
Row-Level Security lets through, and serves as the walled application role, as production does.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from common import sqlite_url, work_dir


class Store(Protocol):
    def create(self, label: str) -> Target:
        """An empty database with the current schema."""

    def copy(self, source: Target, label: str) -> Target:
        """A new database holding the same rows as `source`."""

    def settle(self, target: Target) -> None:
        """After seeding: whatever a long-lived database would have done by now."""

    def discard(self, target: Target) -> None:
        """Done with it."""

    def sessions(self, target: Target) -> int | None:
        """Connections opened to it so far, where the store counts them."""


@dataclass(frozen=True)
class Target:
    """One database: seeded through `seed_url`; the server and the app connect with `app_url`."""

    seed_url: str
    app_url: str
    store: Store

    def copy(self, label: str) -> Target:
        """Every scenario starts from the same data: creates in one run do not grow the next."""
        return self.store.copy(self, label)

    def discard(self) -> None:
        self.store.discard(self)


class SqliteStore:
    """Files in the work directory; left there after the run, for a look at what was served."""

    def create(self, label: str) -> Target:
        path = work_dir() / f"{label}.db"
        _remove(path)
        url = sqlite_url(path)
        return Target(url, url, self)

    def copy(self, source: Target, label: str) -> Target:
        target = self.create(label)
        shutil.copyfile(_path(source), _path(target))
        return target

    def settle(self, target: Target) -> None:
        pass

    def discard(self, target: Target) -> None:
        pass

    def sessions(self, target: Target) -> int | None:
        return None


def _path(target: Target) -> Path:
    return Path(target.seed_url.removeprefix("sqlite:///"))


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


SQLITE = SqliteStore()
