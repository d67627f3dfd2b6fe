"""Schema lifecycle: Alembic migrations, the checks made at start, and the PostgreSQL roles.

SQLite (the embedded default) migrates itself on start. PostgreSQL never runs DDL from the app:
the owner role migrates (`todo-api migrate`), and the app role, which may only read and write
rows under Row-Level Security, checks at start that the schema is current and that it really is
walled (not a superuser, not BYPASSRLS, not the table's owner).
"""

from __future__ import annotations

import logging
import re
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from todo_api.db.engine import DatabaseNotReady, describe, disk_not_ready, wait_for_database

log = logging.getLogger("todo_api.db")

SCRIPTS = Path(__file__).with_name("migrations")
# The revision that matches the schema the first release created with create_all (no
# alembic_version table): research.md, "SQLite migrates itself on start".
BASELINE = "0001"
# PostgreSQL identifiers we are willing to paste into DDL: no quoting games.
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_DATABASE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,62}")
_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
# q's search functions (migrations 0006, 0007 and 0008), in the order check_app_role names them.
SEARCH_FUNCTIONS = (
    "task_numbers_matching(text, integer)",
    "task_trigram_matches(text, text, integer)",
    "task_search_found(text, text, integer)",
)
_MIGRATION_LOCK = 0x70D0_A91  # any constant shared by every `todo-api migrate` of this app


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    """This build's migration scripts, read once per process: they are part of the build."""
    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The newest revision this build knows."""
    revision = _scripts().get_current_head()
    assert revision is not None
    return revision


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _newer_than_this_build(revision: str) -> bool:
    """A revision this build does not know: a later release's. Migrations are expand-only (the
    previous release keeps working on the new schema), so a rolling deploy or a rollback serves."""
    try:
        _scripts().get_revision(revision)
    except CommandError:
        return True
    return False


def _serving_newer(revision: str) -> None:
    log.warning(
        "schema revision newer than this build: serving on it (migrations are expand-only)",
        extra={"revision": revision, "build_head": head()},
    )


def upgrade(engine: Engine) -> str:
    """Migrate to the newest revision (idempotent); returns the database's revision.

    A database at a revision newer than this build (a later release migrated it, and this one is
    a rollback) is left as it is, as on PostgreSQL.
    """
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Two deploy jobs migrating at once take turns; the second then finds nothing to do.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        else:
            # SQLite: the same with the database's write lock, taken before the version is read
            # (workers of one `serve --workers N` all migrate at start; without it two could both
            # read "no schema" and the second fail on CREATE TABLE).
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        tables = inspect(connection)
        if tables.has_table("tasks") and not tables.has_table("alembic_version"):
            # A SQLite file from before migrations existed: it holds exactly the baseline.
            command.stamp(_config(connection), BASELINE)
        current = current_revision(connection)
        if current == head():
            # Nothing to run: Alembic's upgrade would read the scripts and run env.py again.
            return current
        if current is not None and _newer_than_this_build(current):
            _serving_newer(current)
            return current
        command.upgrade(_config(connection), "head")
    return head()


def prepare_database(engine: Engine, startup_timeout: float) -> None:
    """Wait for the database, then make (SQLite) or check (PostgreSQL) the schema.

    Raises DatabaseNotReady with a message that says what to run.
    """
    wait_for_database(engine, startup_timeout)
    if engine.dialect.name == "sqlite":
        try:
            upgrade(engine)
        except OperationalError as exc:
            disk = disk_not_ready(engine, exc)
            if disk is None:
                raise
            raise disk from None
        return
    with engine.connect() as connection:
        _check_revision(connection, describe(engine))
        check_app_role(connection)


def _check_revision(connection: Connection, where: str) -> None:
    try:
        current = current_revision(connection)
    except ProgrammingError:
        raise DatabaseNotReady(
            f"the role in DATABASE_URL cannot read the schema version at {where}: grant it the "
            "application privileges (`todo-api roles` prints the SQL)"
        ) from None
    if current is None:
        raise DatabaseNotReady(
            f"the database at {where} has no schema yet: run `todo-api migrate` "
            "(as the owner role, MIGRATION_DATABASE_URL)"
        )
    wanted = head()
    if current == wanted:
        return
    if _newer_than_this_build(current):
        _serving_newer(current)
        return
    raise DatabaseNotReady(
        f"the database at {where} is at schema revision {current}, this build needs {wanted}: "
        "run `todo-api migrate`"
    )


def check_app_role(connection: Connection) -> None:
    """Refuse to serve as a role that Row-Level Security would not hold."""
    row = connection.execute(
        text(
            "SELECT r.rolname, r.rolsuper, r.rolbypassrls,"
            " pg_has_role(current_user, c.relowner, 'MEMBER') AS owns,"
            " c.relrowsecurity AND c.relforcerowsecurity AS walled,"
            " has_table_privilege(c.oid, 'SELECT') AS can_select,"
            " has_table_privilege(c.oid, 'INSERT') AS can_insert,"
            " has_table_privilege(c.oid, 'UPDATE') AS can_update,"
            " has_table_privilege(c.oid, 'DELETE') AS can_delete,"
            # q's search functions; one absent from the schema (an older one): not asked.
            " coalesce(has_function_privilege(to_regprocedure(:numbers), 'EXECUTE'), true)"
            " AS can_search,"
            " coalesce(has_function_privilege(to_regprocedure(:trigrams), 'EXECUTE'), true)"
            " AS can_search_trigrams,"
            " coalesce(has_function_privilege(to_regprocedure(:found), 'EXECUTE'), true)"
            " AS can_search_found"
            " FROM pg_roles r, pg_class c"
            " WHERE r.rolname = current_user AND c.oid = to_regclass('tasks')"
        ),
        dict(zip(("numbers", "trigrams", "found"), SEARCH_FUNCTIONS, strict=True)),
    ).one_or_none()
    if row is None:
        raise DatabaseNotReady("the tasks table is missing: run `todo-api migrate`")
    connect_as = "DATABASE_URL connects as role " + repr(row.rolname)
    if row.rolsuper or row.rolbypassrls:
        raise DatabaseNotReady(
            f"{connect_as}, which bypasses Row-Level Security (superuser or BYPASSRLS): connect "
            "as the application role instead (`todo-api roles` prints the SQL that creates it)"
        )
    if row.owns:
        raise DatabaseNotReady(
            f"{connect_as}, which owns the tasks table and could lift its policies: connect as "
            "the application role instead (`todo-api roles` prints the SQL that creates it)"
        )
    if not row.walled:
        raise DatabaseNotReady(
            "Row-Level Security is off on the tasks table: run `todo-api migrate`"
        )
    missing = [
        name
        for name, held in zip(
            _PRIVILEGES,
            (row.can_select, row.can_insert, row.can_update, row.can_delete),
            strict=True,
        )
        if not held
    ]
    if missing:
        raise DatabaseNotReady(
            f"{connect_as}, which lacks {', '.join(missing)} on tasks: run the grants that "
            "`todo-api roles` prints"
        )
    for function, held in zip(
        SEARCH_FUNCTIONS,
        (row.can_search, row.can_search_trigrams, row.can_search_found),
        strict=True,
    ):
        if not held:
            # Else every `q` would fail as it is asked: said once, at start.
            raise DatabaseNotReady(
                f"{connect_as}, which lacks EXECUTE on the search function {function}: "
                f"GRANT EXECUTE ON FUNCTION {function} TO {row.rolname} (as the owner role)"
            )


def roles_sql(owner: str, app: str, database: str, *, create_roles: bool = True) -> str:
    """The SQL an administrator runs once, connected to the app's database, to set up the roles.

    The owner runs migrations and owns the table; the app may only read and write rows, and the
    default privileges extend that to every table a later migration creates, and to the search
    function. The extensions give `q` its trigram index (migration 0006, research L3).
    """
    for name in (owner, app):
        if not _ROLE_NAME.fullmatch(name):
            raise ValueError("role names must be 1..63 of [a-z0-9_], not starting with a digit")
    if not _DATABASE_NAME.fullmatch(database):
        raise ValueError("the database name must be 1..63 of [A-Za-z0-9_-]")
    rights = ", ".join(_PRIVILEGES)
    limits = "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
    statements = [
        *(
            [f'CREATE ROLE "{owner}" {limits}', f'CREATE ROLE "{app}" {limits} NOINHERIT']
            if create_roles
            else []
        ),
        f'GRANT CONNECT ON DATABASE "{database}" TO "{owner}", "{app}"',
        f'GRANT USAGE, CREATE ON SCHEMA public TO "{owner}"',
        f'GRANT USAGE ON SCHEMA public TO "{app}"',
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA public '
        f'GRANT {rights} ON TABLES TO "{app}"',
        f'GRANT {rights} ON ALL TABLES IN SCHEMA public TO "{app}"',
        # `q`'s search function (migration 0006), and the extensions of its trigram index.
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA public '
        f'GRANT EXECUTE ON FUNCTIONS TO "{app}"',
        *(f"CREATE EXTENSION IF NOT EXISTS {name}" for name in ("pg_trgm", "btree_gin")),
    ]
    return "".join(f"{statement};\n" for statement in statements)
