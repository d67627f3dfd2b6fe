"""The PostgreSQL section of `make bench`: the load and scaling runs on a production-like store.

BENCH_PG_URL names a superuser (default: the local server, trust authentication, as on CI). The
run creates its own owner and application roles and databases with the test suite's `Cluster`
(`todo-api roles` SQL, migrations as the owner), seeds as the superuser, serves as the app role
under Row-Level Security, and drops it all at the end, also on failure or Ctrl-C.
Alone: `PYTHONPATH=bench:backend/tests .venv/bin/python bench/pg.py` (prints the results).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

import load
import scaling
from common import CLIENT_CPU, SERVER_CPU
from fixtures.pg_databases import RUN, Cluster, Database
from stores import Target
from todo_api.db import describe

ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
# The product's defaults, spelled out for the report. Each worker runs its transactions on
# DB_POOL_SIZE threads, one per kept connection (research P7), so under load it opens no more than
# that. A larger pool is measured beside it: more transactions in flight at once.
POOL = {"DB_POOL_SIZE": "5", "DB_MAX_OVERFLOW": "10"}
LARGER_POOL = {"DB_POOL_SIZE": "15", "DB_MAX_OVERFLOW": "0"}
ROLES = (
    "a run-unique owner role migrates and owns `tasks`; the server connects as a run-unique "
    "application role (NOSUPERUSER NOBYPASSRLS NOINHERIT, SELECT/INSERT/UPDATE/DELETE only), "
    "with the grants `todo-api roles` prints; seeding runs as the superuser, which RLS lets "
    "through; each scenario gets its own `CREATE DATABASE … TEMPLATE` copy of the seeded one"
)


class PostgresStore(Cluster):
    """The test suite's throwaway roles and databases, plus template copies and single drops."""

    def create(self, label: str) -> Target:
        return self._target(self.create_database(_label(label)))

    def copy(self, source: Target, label: str) -> Target:
        # A template must have no connections: every engine here is NullPool or disposed.
        template = make_url(source.seed_url).database
        name = f"todo_test_{RUN}_{_label(label)}_{next(self._numbers)}"
        admin = self._autocommit()
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
            self._databases.append(name)
            # Tables, grants and policies are copied with the data; the database's ACL is not.
            connection.execute(
                text(f'GRANT CONNECT ON DATABASE "{name}" TO "{self.owner}", "{self.app}"')
            )
        admin.dispose()
        return Target(self._url(name, None), self._url(name, self.app), self)

    def settle(self, target: Target) -> None:
        # Autovacuum would have analysed (and set the visibility map of) a long-lived table.
        engine = create_engine(target.seed_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("VACUUM (ANALYZE) tasks"))
        engine.dispose()

    def discard(self, target: Target) -> None:
        name = make_url(target.seed_url).database
        admin = self._autocommit()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        if name in self._databases:
            self._databases.remove(name)

    def sessions(self, target: Target) -> int | None:
        # Counted as each backend ends: call it once the server has stopped.
        engine = create_engine(target.seed_url, poolclass=NullPool)
        with engine.connect() as connection:
            count = connection.execute(
                text("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
            ).scalar_one()
        engine.dispose()
        return int(count) - 1  # not this one

    def _target(self, database: Database) -> Target:
        return Target(database.admin_url, database.app_url, self)


def _label(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:20]


def server_version(url: str) -> tuple[str, str | None]:
    """Where the server is (host, port, database: never the user or password) and its version,
    `PostgreSQL 15.4 (Debian …)`, or None when nothing answers there."""
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            version = str(connection.execute(text("SELECT version()")).scalar_one())
            return describe(engine), version.split(" on ")[0]
    except OperationalError:
        return describe(engine), None
    finally:
        engine.dispose()


def postgres_cpus() -> str:
    """The cores the PostgreSQL processes may run on (they are not ours to pin)."""
    pids = subprocess.run(
        ["pgrep", "-x", "postgres"], capture_output=True, text=True, check=False
    ).stdout.split()
    if not pids:
        return "unknown (no postgres process visible here)"
    affinity = subprocess.run(
        ["taskset", "-cp", pids[0]], capture_output=True, text=True, check=False
    ).stdout
    return affinity.rsplit(":", 1)[-1].strip() or "unknown"


@contextlib.contextmanager
def terminated_as_exit() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C does, so the `finally` that drops the databases runs."""

    def _exit(signum: int, _: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run() -> dict[str, Any]:
    """Load (1 and 2 workers) and scaling on PostgreSQL, or why they were skipped."""
    server, version = server_version(ADMIN_URL)
    if version is None:
        reason = f"no PostgreSQL answered at {server} (BENCH_PG_URL)"
        print(f"postgresql: skipped, {reason}")
        return {"skipped": reason}
    results: dict[str, Any] = {
        "version": version,
        "server": server,
        "roles": ROLES,
        "pool": POOL,
        "server_cpus": SERVER_CPU,
        "client_cpus": CLIENT_CPU,
        "postgres_cpus": postgres_cpus(),
        "loadavg_start": os.getloadavg()[0],
    }
    store = PostgresStore(ADMIN_URL)
    with terminated_as_exit():
        try:
            print(f"postgresql: {results['version']} at {results['server']}")
            print("postgresql load: seeding")
            pristine, users_file, results["load_seed_s"] = load.prepare(store)
            print("postgresql load: 10,000 users, 100 connections")
            results["load"] = load.scenario(pristine, users_file, "1 worker", settings=POOL)
            results["load_2_workers"] = load.scenario(
                pristine, users_file, "2 workers", workers=2, settings=POOL
            )
            results["load_larger_pool"] = load.scenario(
                pristine, users_file, "1 worker, DB_POOL_SIZE=15", settings=LARGER_POOL
            )
            print("postgresql scaling with data")
            results["scaling"] = scaling.run(store)
            results["loadavg_end"] = os.getloadavg()[0]
        finally:
            store.drop_all()
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
    sys.exit(0)
