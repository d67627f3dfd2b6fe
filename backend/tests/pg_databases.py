"""Throwaway PostgreSQL databases for one test run, set up the way production is.

`TEST_DATABASE_URL` names a superuser connection (for example
`postgresql+psycopg://postgres@127.0.0.1:5432/postgres`). Each run creates its own owner and
application roles and its own databases, all with names unique to the run, so that parallel runs on
one server never meet; everything is dropped at the end of the run. Each database gets the roles'
grants from `todo-api roles` and the schema from the migrations, run as the owner role: once per
run, into a template that each migrated database is then copied from (`CREATE DATABASE ...
TEMPLATE`, a file copy on the server instead of every migration again; research F2).
"""

from __future__ import annotations

import atexit
import itertools
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from todo_api.db.lifecycle import roles_sql, upgrade

ADMIN_URL = os.environ.get("TEST_DATABASE_URL") or None
RUN = f"{os.getpid()}_{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Database:
    name: str
    admin_url: str  # a superuser, connected to this database: for set-up and inspection only
    owner_url: str  # owns the schema: what `todo-api migrate` uses
    app_url: str  # the application role: what the API connects as
    # Through a transaction pooler, the owner's and the app's URLs go through it (the admin's
    # never does), and after an outage new connections succeed only once the pooler has logged
    # in again: within this many seconds (none, directly).
    pooled: bool = False
    recovers_within: float = 0.0

    def admin_engine(self) -> Engine:
        return create_engine(self.admin_url, poolclass=NullPool)

    def through(self, pooled_url: Callable[[str], str], recovers_within: float) -> Database:
        """This database with its owner and app roles connecting through a pooler."""
        return replace(
            self,
            owner_url=pooled_url(self.owner_url),
            app_url=pooled_url(self.app_url),
            pooled=True,
            recovers_within=recovers_within,
        )

    def truncate(self) -> None:
        engine = self.admin_engine()
        with engine.begin() as connection:
            connection.execute(text("TRUNCATE tasks, task_counters"))  # numbers start again at 1
        engine.dispose()


class Cluster:
    """The run's roles and databases on the server that TEST_DATABASE_URL points at."""

    def __init__(self, admin_url: str) -> None:
        self._admin = make_url(admin_url)
        self.owner = f"todo_owner_{RUN}"
        self.app = f"todo_app_{RUN}"
        self._password = secrets.token_hex(16)
        self._databases: list[str] = []
        self._roles_made = False
        self._numbers = itertools.count(1)
        self._shared: Database | None = None
        self._template: str | None = None
        atexit.register(self.drop_all)

    def _autocommit(self) -> Engine:
        return create_engine(self._admin, poolclass=NullPool, isolation_level="AUTOCOMMIT")

    def _url(self, database: str, role: str | None) -> str:
        url = self._admin.set(database=database)
        if role is not None:
            url = url.set(username=role, password=self._password)
        return url.render_as_string(hide_password=False)

    def users(self) -> dict[str, str]:
        """The run's roles and their password (for a pooler's auth file)."""
        return {self.owner: self._password, self.app: self._password}

    def create_database(self, label: str, *, migrate: bool = True) -> Database:
        """A new database with the run's roles granted on it, migrated unless told not to."""
        template = self._migrated_template() if migrate else None
        return self._create(f"{label}_{next(self._numbers)}", template)

    def _migrated_template(self) -> str:
        """The run's database built by the migrations, copied by every migrated one. Nothing stays
        connected to it (NullPool engines), as a copy requires."""
        if self._template is None:
            template = self._create("template", None)
            owner = create_engine(template.owner_url, poolclass=NullPool)
            upgrade(owner)
            owner.dispose()
            self._template = template.name
        return self._template

    def _create(self, suffix: str, template: str | None) -> Database:
        name = f"todo_test_{RUN}_{suffix}"
        copy = f' TEMPLATE "{template}"' if template is not None else ""
        admin = self._autocommit()
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        admin.dispose()
        self._databases.append(name)
        database = Database(
            name=name,
            admin_url=self._url(name, None),
            owner_url=self._url(name, self.owner),
            app_url=self._url(name, self.app),
        )
        # A copy keeps the schema's grants and default privileges, not the database's own
        # (CONNECT): the roles' statements run on every database, as `todo-api roles` documents.
        engine = database.admin_engine()
        with engine.begin() as connection:
            for statement in roles_sql(
                self.owner, self.app, name, create_roles=not self._roles_made
            ).split(";\n"):
                if statement.strip():
                    connection.execute(text(statement))
            if not self._roles_made:
                for role in (self.owner, self.app):
                    connection.execute(text(f"ALTER ROLE \"{role}\" PASSWORD '{self._password}'"))
        engine.dispose()
        self._roles_made = True
        return database

    def shared(self) -> Database:
        """One database for the tests that only need their own rows: truncated before each."""
        if self._shared is None:
            self._shared = self.create_database("shared")
        return self._shared

    def drop_all(self) -> None:
        if not self._databases and not self._roles_made:
            return
        admin = self._autocommit()
        with admin.connect() as connection:
            for name in self._databases:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            for role in (self.app, self.owner):
                connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()
        self._databases.clear()
        self._roles_made = False
        self._shared = None
        self._template = None


_cluster: Cluster | None = None


def cluster() -> Cluster:
    """The run's cluster; only called when TEST_DATABASE_URL is set."""
    global _cluster
    assert ADMIN_URL, "TEST_DATABASE_URL is not set"
    if _cluster is None:
        _cluster = Cluster(ADMIN_URL)
    return _cluster


def cleanup() -> None:
    if _cluster is not None:
        _cluster.drop_all()


@contextmanager
def database_away(database: Database) -> Iterator[None]:
    """No connection to `database` survives or can be made until the block ends: its backends are
    terminated and new connections refused (ALLOW_CONNECTIONS false), never by stopping the
    server that others share."""
    admin = cluster()._autocommit()
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{database.name}" ALLOW_CONNECTIONS false'))
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": database.name},
        )
    try:
        yield
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{database.name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
