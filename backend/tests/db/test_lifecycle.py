"""db/lifecycle.py: migrations equal the models on both databases, `todo-api migrate`, start
checks."""

from __future__ import annotations

import importlib
import logging
import string
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.pool import NullPool

from fixtures import pg_databases
from fixtures.api import DATABASES, SECRET, as_owner, database_at
from fixtures.live_server import CLI, child_env, free_port
from todo_api.db import Base, DatabaseNotReady, make_engine, transaction
from todo_api.db.lifecycle import (
    _config,
    check_app_role,
    current_revision,
    head,
    prepare_database,
    roles_sql,
    upgrade,
)
from todo_api.tasks import search, store
from todo_api.tasks.listing import Sort, like_pattern
from todo_api.tasks.schemas import DESCRIPTION_MAX, TITLE_MAX


@pytest.fixture(params=DATABASES)
def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database built by the migrations alone (as the owner role on PostgreSQL)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
        upgrade(engine)
    else:
        engine = create_engine(pg_databases.cluster().create_database("m").owner_url)
    yield engine
    engine.dispose()


def _on_postgresql(obj: object, name: str | None, kind: str, reflected: bool, _: object) -> bool:
    # The index of q's texts serves SQLite only (migration 0005), and so do the trigram postings
    # (0007): PostgreSQL has neither. Its trigram keys' index (0007) is over an expression, which
    # the models do not declare: test_lists.py reads its plan.
    return name not in (
        "ix_tasks_owner_id_number_texts",
        "task_trigrams",
        "task_trigram_positions",
        "ix_tasks_trigram_keys",
    )


def test_migrations_build_exactly_the_models(migrated: Engine) -> None:
    on_postgres = migrated.dialect.name == "postgresql"
    with migrated.connect() as connection:
        # Defaults (the BIGINT identity among them) compare reliably on PostgreSQL only: SQLite
        # reflects no identity, so there AUTOINCREMENT is checked from the DDL itself.
        options = {
            "compare_type": True,
            "compare_server_default": on_postgres,
            **({"include_object": _on_postgresql} if on_postgres else {}),
        }
        context = MigrationContext.configure(connection, opts=options)
        assert compare_metadata(context, Base.metadata) == []
        assert current_revision(connection) == head()
        if not on_postgres:
            ddl = connection.execute(
                text("SELECT sql FROM sqlite_master WHERE name = 'tasks'")
            ).scalar_one()
            assert "INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT" in ddl


def test_upgrading_twice_changes_nothing(migrated: Engine) -> None:
    assert upgrade(migrated) == head()
    with migrated.connect() as connection:
        assert current_revision(connection) == head()


LATER_RELEASE = "0099"  # a revision this build does not know


def _migrated_by_a_later_release(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE alembic_version SET version_num = :v"), {"v": LATER_RELEASE}
        )


def test_a_rollback_serves_on_sqlite_a_later_release_migrated(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'later.db'}")
    upgrade(engine)
    _migrated_by_a_later_release(engine)
    prepare_database(engine, 0)  # the app's start: no "Can't locate revision"
    assert upgrade(engine) == LATER_RELEASE  # `todo-api migrate` of this build: nothing to do
    with engine.connect() as connection:
        assert current_revision(connection) == LATER_RELEASE
    engine.dispose()


def test_a_rollback_serves_on_postgresql_a_later_release_migrated(
    postgres: pg_databases.Database,
) -> None:
    owner = create_engine(postgres.owner_url)
    _migrated_by_a_later_release(owner)
    app_engine = make_engine(postgres.app_url)
    prepare_database(app_engine, 0)
    assert upgrade(owner) == LATER_RELEASE
    owner.dispose()
    app_engine.dispose()


def test_concurrent_migrate_commands_take_turns(
    tmp_path: Path, postgres: pg_databases.Database
) -> None:
    # Two deploy jobs (or a retried one) migrating the same fresh database at once.
    fresh = pg_databases.cluster().create_database("race", migrate=False)
    env = child_env() | {"BETTER_AUTH_SECRET": SECRET, "DATABASE_URL": fresh.owner_url}
    jobs = [
        subprocess.Popen(
            [*CLI, "migrate"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    outcomes = []
    for job in jobs:
        try:
            _, stderr = job.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            job.kill()
            _, stderr = job.communicate()
        outcomes.append((job.returncode, stderr.decode()[-300:]))
    assert outcomes == [(0, "")] * 3


def test_a_sqlite_file_from_before_migrations_is_adopted_with_its_rows(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    # How issue 3 built the schema (of its one table; later tables come from migrations).
    Base.metadata.create_all(engine, tables=[store.TASKS])
    with engine.begin() as connection:
        # Issue 3's model had no version (migration 0002 adds it), nor due_at and priority
        # (0004), nor number (0005).
        for column in ("due_at", "priority", "updated_at", "title"):
            connection.execute(text(f"DROP INDEX ix_tasks_owner_id_{column}_number"))
        connection.execute(text("DROP INDEX ix_tasks_owner_id_number_texts"))
        connection.execute(text("DROP INDEX ux_tasks_owner_id_number"))
        for column in ("version", "due_at", "priority", "number"):
            connection.execute(text(f"ALTER TABLE tasks DROP COLUMN {column}"))
        connection.execute(
            store.TaskRow.__table__.insert().values(
                owner_id="alice",
                title="kept",
                completed=False,
                created_at=store.utc_now(),
                updated_at=store.utc_now(),
            )
        )
    upgrade(engine)
    with engine.connect() as connection:
        assert current_revision(connection) == head()
        rows = connection.execute(
            text("SELECT title, version, due_at, priority, number FROM tasks")
        )
        assert [tuple(row) for row in rows] == [("kept", 1, None, 1, 1)]
    engine.dispose()


def _cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        cwd=tmp_path,
        env=child_env() | {"BETTER_AUTH_SECRET": SECRET, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_migrate_command_builds_a_sqlite_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = _cli(tmp_path, "migrate", DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    assert f"is at schema revision {head()}" in result.stdout
    engine = make_engine(url)
    with engine.connect() as connection:
        assert current_revision(connection) == head()
    engine.dispose()


def test_migrate_needs_no_key_source_but_serve_still_does(tmp_path: Path) -> None:
    """A migration job is given the owner's URL, not the token secrets."""
    url = f"sqlite:///{tmp_path / 'keyless.db'}"
    env = child_env() | {"DATABASE_URL": url, "DB_STARTUP_TIMEOUT": "0"}
    migrated = subprocess.run(
        [*CLI, "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert migrated.returncode == 0, migrated.stderr
    assert f"is at schema revision {head()}" in migrated.stdout
    served = subprocess.run(
        [*CLI, "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert served.returncode == 2
    assert "BETTER_AUTH_SECRET is not set" in served.stderr


def test_migrate_as_the_owner_then_the_app_role_may_start(
    tmp_path: Path, postgres: pg_databases.Database
) -> None:
    fresh = pg_databases.cluster().create_database("cli", migrate=False)
    app_engine = make_engine(fresh.app_url)
    with pytest.raises(DatabaseNotReady, match="no schema yet: run `todo-api migrate`"):
        prepare_database(app_engine, 0)

    result = _cli(
        tmp_path, "migrate", DATABASE_URL=fresh.app_url, MIGRATION_DATABASE_URL=fresh.owner_url
    )
    assert result.returncode == 0, result.stderr
    prepare_database(app_engine, 0)
    app_engine.dispose()


def test_migrate_reports_an_unreachable_database_in_one_line(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://owner:pw-do-not-print@127.0.0.1:{free_port()}/todo"
    result = _cli(tmp_path, "migrate", DATABASE_URL=url, DB_STARTUP_TIMEOUT="0")
    assert result.returncode == 1
    assert "cannot connect to the database at 127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr
    assert "pw-do-not-print" not in result.stderr


def test_the_app_refuses_roles_that_row_level_security_would_not_hold(
    postgres: pg_databases.Database,
) -> None:
    for url, reason in (
        (postgres.admin_url, "bypasses Row-Level Security"),
        (postgres.owner_url, "owns the tasks table"),
    ):
        engine = make_engine(url)
        with pytest.raises(DatabaseNotReady, match=reason):
            prepare_database(engine, 0)
        engine.dispose()


def test_the_app_refuses_a_table_without_row_level_security(
    postgres: pg_databases.Database,
) -> None:
    admin = postgres.admin_engine()
    with admin.begin() as connection:
        connection.execute(text("ALTER TABLE tasks NO FORCE ROW LEVEL SECURITY"))
    admin.dispose()
    engine = make_engine(postgres.app_url)
    with pytest.raises(DatabaseNotReady, match="Row-Level Security is off"):
        prepare_database(engine, 0)
    engine.dispose()


def test_the_app_refuses_a_role_without_its_privileges(postgres: pg_databases.Database) -> None:
    admin = postgres.admin_engine()
    with admin.begin() as connection:
        connection.execute(text(f'REVOKE DELETE ON tasks FROM "{pg_databases.cluster().app}"'))
    admin.dispose()
    engine = make_engine(postgres.app_url)
    with pytest.raises(DatabaseNotReady, match="lacks DELETE on tasks"):
        prepare_database(engine, 0)
    engine.dispose()


def test_roles_command_prints_the_grants_and_refuses_odd_names(tmp_path: Path) -> None:
    printed = _cli(tmp_path, "roles", "--owner", "o", "--app", "a", "--database", "d")
    assert printed.returncode == 0
    assert printed.stdout == roles_sql("o", "a", "d")
    assert 'CREATE ROLE "a" LOGIN NOSUPERUSER NOBYPASSRLS' in printed.stdout
    assert 'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "a"' in printed.stdout
    refused = _cli(tmp_path, "roles", "--app", 'x"; DROP TABLE tasks; --')
    assert refused.returncode == 2
    assert "role names" in refused.stderr


def test_an_app_role_created_by_the_printed_sql_can_do_its_job_and_no_more(
    postgres: pg_databases.Database,
) -> None:
    # pg_databases set this database up with roles_sql; the app role is a plain one.
    engine = create_engine(postgres.app_url, poolclass=NullPool)
    with engine.connect() as connection:
        role = connection.execute(
            text(
                "SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles"
                " WHERE rolname = current_user"
            )
        ).one()
        assert tuple(role) == (False, False, False)
        with pytest.raises(ProgrammingError, match="must be owner of table tasks"):
            connection.execute(text("ALTER TABLE tasks DISABLE ROW LEVEL SECURITY"))
    engine.dispose()


# --- Migration 0004 on the previous release's data -----------------------------------------

# The previous release's statements, which name neither due_at nor priority.
PREVIOUS_INSERT = text(
    "INSERT INTO tasks (owner_id, title, description, completed, created_at, updated_at) "
    "VALUES ('alice', :title, NULL, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
)
PREVIOUS_UPDATE = text("UPDATE tasks SET title = :title, version = version + 1")


@pytest.mark.parametrize("kind", DATABASES)
def test_migration_0004_serves_the_previous_release_alongside(kind: str, tmp_path: Path) -> None:
    with database_at("0003", kind, tmp_path) as engine:
        with engine.begin() as connection:
            as_owner(connection, "alice")
            connection.execute(PREVIOUS_INSERT, {"title": "before"})
        upgrade(engine)
        with engine.begin() as connection:
            as_owner(connection, "alice")
            # The previous release, still running during the rollout, inserts and updates.
            connection.execute(PREVIOUS_INSERT, {"title": "during"})
            connection.execute(
                text("UPDATE tasks SET due_at = CURRENT_TIMESTAMP, priority = 2 WHERE id = 1")
            )
            connection.execute(PREVIOUS_UPDATE, {"title": "renamed"})
            query = store.ListQuery(Sort.named("created_at"))
            rows = store.list_tasks(connection, owner_id="alice", query=query, limit=10)
    assert [(r.title, r.priority, r.due_at is None, r.version) for r in rows] == [
        ("renamed", "high", False, 2),  # the previous release's UPDATE kept both
        ("renamed", "normal", True, 2),
    ]


# --- Migration 0005 (per-owner numbers) on the previous release's data ------------------------

# The previous release's create, as it runs it: no `number`, the global id returned.
PREVIOUS_CREATE = text(
    "INSERT INTO tasks (owner_id, title, description, completed, created_at, updated_at) "
    "VALUES (:owner, :title, NULL, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"
)


def _previous_create(connection: Connection, owner: str, title: str) -> int:
    as_owner(connection, owner)
    return int(connection.execute(PREVIOUS_CREATE, {"owner": owner, "title": title}).scalar_one())


@pytest.mark.parametrize("kind", DATABASES)
def test_migration_0005_keeps_every_id_and_numbers_the_previous_releases_creates(
    kind: str, tmp_path: Path
) -> None:
    with database_at("0004", kind, tmp_path) as engine:
        before: dict[str, list[int]] = {"alice": [], "bob": []}
        for owner, title in [("alice", "a1"), ("bob", "b1"), ("alice", "a2"), ("bob", "b2")]:
            with engine.begin() as connection:
                before[owner].append(_previous_create(connection, owner, title))
        upgrade(engine)
        # During the rollout the previous release still creates: the trigger numbers its task
        # from the owner's counter, which starts after the highest id they held.
        with engine.begin() as connection:
            during_id = _previous_create(connection, "alice", "a3 (previous release)")
        with engine.begin() as connection:
            as_owner(connection, "alice")
            created = store.create_task(
                connection, owner_id="alice", title="a4", description=None, completed=False
            )
            query = store.ListQuery(Sort.named("created_at"))
            alices = store.list_tasks(connection, owner_id="alice", query=query, limit=10)
            previous_row = connection.execute(
                text("SELECT number FROM tasks WHERE id = :id"), {"id": during_id}
            ).scalar_one()
        with engine.begin() as connection:
            as_owner(connection, "bob")
            bobs = store.list_tasks(connection, owner_id="bob", query=query, limit=10)
    assert before == {"alice": [1, 3], "bob": [2, 4]}
    # Every id a client held before the migration still names the same task.
    assert [(t.id, t.title) for t in bobs] == [(2, "b1"), (4, "b2")]
    assert previous_row == 4
    assert created is not None
    assert created.id == 5
    assert [(t.id, t.title) for t in alices] == [
        (1, "a1"),
        (3, "a2"),
        (4, "a3 (previous release)"),
        (5, "a4"),
    ]


def test_task_counters_are_walled_by_row_level_security(
    postgres: pg_databases.Database,
) -> None:
    """A counter says how many tasks its owner created: nobody else reads or moves it."""
    engine = make_engine(postgres.app_url)
    try:
        with engine.begin() as connection:
            as_owner(connection, "alice")
            store.create_task(
                connection, owner_id="alice", title="a", description=None, completed=False
            )
        with engine.begin() as connection:
            as_owner(connection, "bob")
            assert connection.execute(text("SELECT * FROM task_counters")).all() == []
            moved = connection.execute(text("UPDATE task_counters SET last_number = 0"))
            assert moved.rowcount == 0
            with pytest.raises(ProgrammingError, match="row-level security"):
                connection.execute(
                    text("INSERT INTO task_counters VALUES ('alice', 100) ON CONFLICT DO NOTHING")
                )
        with engine.begin() as connection:
            unbound = connection.execute(text("SELECT count(*) FROM task_counters")).scalar_one()
            assert unbound == 0
    finally:
        engine.dispose()


def test_without_the_trigram_extensions_migration_0006_says_so_and_search_still_answers(
    postgres: pg_databases.Database, caplog: pytest.LogCaptureFixture
) -> None:
    """The extensions need an administrator: where they are missing, the migration builds no
    index, logs it, and `q` reads the owner's tasks as before (research L3)."""
    fresh = pg_databases.cluster().create_database("noext", migrate=False)
    admin = fresh.admin_engine()
    with admin.begin() as connection:
        connection.execute(text("DROP EXTENSION btree_gin"))
    owner = create_engine(fresh.owner_url, poolclass=NullPool)
    with caplog.at_level(logging.WARNING, logger="todo_api.db"):
        upgrade(owner)
    owner.dispose()
    assert any("no trigram index for q" in r.getMessage() for r in caplog.records)
    with admin.connect() as connection:
        index = connection.execute(text("SELECT to_regclass('ix_tasks_owner_id_texts_trgm')"))
        assert index.scalar_one() is None
    admin.dispose()
    engine = make_engine(fresh.app_url)
    try:
        with transaction(engine, "alice") as connection:
            store.create_task(
                connection, owner_id="alice", title="Buy milk", description=None, completed=False
            )
            query = store.ListQuery(Sort.named("-created_at"), like="%milk%")
            found = store.list_tasks(connection, owner_id="alice", query=query, limit=10)
    finally:
        engine.dispose()
    assert [task.title for task in found] == ["Buy milk"]


@pytest.mark.parametrize(
    ("revoke", "named"),
    [
        ("REVOKE DELETE ON tasks FROM {app}", "lacks DELETE on tasks"),
        (
            "REVOKE EXECUTE ON FUNCTION task_numbers_matching(text, integer) FROM {app}",
            "lacks EXECUTE on the search function task_numbers_matching",
        ),
        (
            "REVOKE EXECUTE ON FUNCTION task_trigram_matches(text, text, integer) FROM {app}",
            "lacks EXECUTE on the search function task_trigram_matches",
        ),
        (
            "REVOKE EXECUTE ON FUNCTION task_search_found(text, text, integer) FROM {app}",
            "lacks EXECUTE on the search function task_search_found",
        ),
    ],
    ids=["table", "search-function", "trigram-search-function", "found-search-function"],
)
def test_an_app_role_without_its_privileges_is_refused_naming_them(
    postgres: pg_databases.Database, revoke: str, named: str
) -> None:
    app = make_engine(postgres.app_url)
    try:
        with app.connect() as connection:
            check_app_role(connection)  # as granted: serves
            role = connection.execute(text("SELECT current_user")).scalar_one()
        admin = postgres.admin_engine()
        with admin.begin() as connection:
            connection.execute(text(revoke.format(app=f'"{role}"')))
        admin.dispose()
        with app.connect() as connection, pytest.raises(DatabaseNotReady, match=named):
            check_app_role(connection)
    finally:
        app.dispose()


# --- Migration 0007 (trigrams of each owner's texts) on the previous release's data ------------


def _search(connection: Connection, owner: str, q: str) -> list[str]:
    query = store.ListQuery(Sort.named("created_at"), like=like_pattern(q))
    return [
        task.title for task in store.list_tasks(connection, owner_id=owner, query=query, limit=50)
    ]


def _sqlite_postings(connection: Connection) -> set[tuple[str, str, int]]:
    return {
        (owner, trigram, task_id)
        for owner, trigram, task_id in connection.execute(text("SELECT * FROM task_trigrams"))
    }


def _expected_postings(connection: Connection) -> set[tuple[str, str, int]]:
    """Every trigram of every task's texts, lower-cased as SQLite does (ASCII letters only)."""
    ascii_lower = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
    rows = connection.execute(text("SELECT owner_id, id, title, description FROM tasks"))
    return {
        (owner, trigram, task_id)
        for owner, task_id, *texts in rows
        for each in texts
        if each is not None
        for trigram in search.trigrams(each.translate(ascii_lower))
    }


@pytest.mark.parametrize("kind", DATABASES)
def test_migration_0007_finds_the_tasks_before_it_and_the_previous_releases_writes(
    kind: str, tmp_path: Path
) -> None:
    with database_at("0006", kind, tmp_path) as engine:
        with engine.begin() as connection:
            for owner, title in [
                ("alice", "Buy MILK"),
                ("alice", "Paint the shed"),
                ("bob", "milk"),
            ]:
                _previous_create(connection, owner, title)
        upgrade(engine)
        # The previous release, still running during the rollout, creates, renames and deletes.
        with engine.begin() as connection:
            during = _previous_create(connection, "alice", "Milk the goat")
            connection.execute(
                text(
                    "UPDATE tasks SET title = 'Paint the milk van', description = 'Oat MILK' "
                    "WHERE id = :id"
                ),
                {"id": 2},
            )
            # A rename keeps the trigrams its description holds too ("mil", "ilk").
            connection.execute(text("UPDATE tasks SET description = 'milk run' WHERE id = 1"))
            connection.execute(text("UPDATE tasks SET title = 'Buy bread' WHERE id = 1"))
            connection.execute(
                text("UPDATE tasks SET completed = true WHERE id = :id"), {"id": during}
            )
        with engine.begin() as connection:
            as_owner(connection, "alice")
            found = _search(connection, "alice", "milk")
            renamed_away = _search(connection, "alice", "buy m")
            shed = _search(connection, "alice", "shed")
            connection.execute(text("DELETE FROM tasks WHERE id = :id"), {"id": during})
            after_delete = _search(connection, "alice", "milk")
            if kind == "sqlite":
                assert _sqlite_postings(connection) == _expected_postings(connection)
        with engine.begin() as connection:
            as_owner(connection, "bob")
            bobs = _search(connection, "bob", "milk")
    assert found == ["Buy bread", "Paint the milk van", "Milk the goat"]
    assert (renamed_away, shed) == ([], [])
    assert after_delete == ["Buy bread", "Paint the milk van"]
    assert bobs == ["milk"]


# What 0007 creates, none of it left after its downgrade.
TRIGRAM_OBJECTS = {
    "sqlite": text("SELECT name FROM sqlite_master WHERE name LIKE '%trigram%'"),
    "postgresql": text(
        "SELECT relname FROM pg_class WHERE relname LIKE '%trigram%' UNION ALL "
        "SELECT proname FROM pg_proc WHERE proname LIKE 'task_trigram%'"
    ),
}


@pytest.mark.parametrize("kind", DATABASES)
def test_migration_0007_downgrades_to_0006_and_upgrades_again(kind: str, tmp_path: Path) -> None:
    with database_at("0006", kind, tmp_path) as engine:
        with engine.begin() as connection:
            _previous_create(connection, "alice", "Buy milk")
        upgrade(engine)
        with engine.begin() as connection:
            command.downgrade(_config(connection), "0006")
        with engine.begin() as connection:
            assert current_revision(connection) == "0006"
            left = TRIGRAM_OBJECTS[kind]
            assert connection.execute(left).all() == []
            _previous_create(connection, "alice", "Oat milk")  # the 0006 release writes on
        upgrade(engine)
        with engine.begin() as connection:
            as_owner(connection, "alice")
            assert _search(connection, "alice", "milk") == ["Buy milk", "Oat milk"]


def test_the_trigram_positions_cover_the_longest_text() -> None:
    """SQLite's triggers cut a text into trigrams at these positions: fewer than the contract's
    longest text would leave its end unsearchable."""
    trigrams = importlib.import_module("todo_api.db.migrations.versions.0007_task_trigrams")
    assert max(DESCRIPTION_MAX, TITLE_MAX) <= trigrams.POSITIONS


# --- Migration 0008 (PostgreSQL's search page planned once per session) -------------------------

# What the 0007 release asks to search (its page reads the numbers found by number).
PREVIOUS_SEARCH = text("SELECT task_trigram_matches(:pattern, :needle, 101)")


def _previous_search(connection: Connection, owner: str, needle: str) -> list[int]:
    as_owner(connection, owner)
    found = connection.execute(PREVIOUS_SEARCH, {"pattern": f"%{needle}%", "needle": needle})
    return sorted(found.scalars())


@pytest.mark.skipif("postgresql" not in DATABASES, reason="PostgreSQL only (TEST_DATABASE_URL)")
def test_migration_0008_serves_the_previous_release_and_downgrades_to_0007(
    tmp_path: Path,
) -> None:
    with database_at("0007", "postgresql", tmp_path) as engine:
        with engine.begin() as connection:
            _previous_create(connection, "alice", "Buy milk")
            _previous_create(connection, "bob", "milk")
        upgrade(engine)
        # The previous release, still running during the rollout, writes and searches as before.
        with engine.begin() as connection:
            during = _previous_create(connection, "alice", "Milk the goat")
        with engine.begin() as connection:
            previous = _previous_search(connection, "alice", "milk")
            numbers = connection.execute(
                text("SELECT number FROM tasks WHERE owner_id = 'alice' ORDER BY id")
            ).scalars()
            assert previous == sorted(numbers)
        with engine.begin() as connection:
            as_owner(connection, "alice")
            assert _search(connection, "alice", "milk") == ["Buy milk", "Milk the goat"]
        with engine.begin() as connection:
            command.downgrade(_config(connection), "0007")
        with engine.begin() as connection:
            assert current_revision(connection) == "0007"
            gone = text("SELECT to_regprocedure('task_search_found(text, text, integer)')")
            assert connection.execute(gone).scalar_one() is None
            _previous_create(connection, "alice", "Oat milk")  # the 0007 release writes on
            connection.execute(text("DELETE FROM tasks WHERE id = :id"), {"id": during})
        with engine.begin() as connection:
            assert len(_previous_search(connection, "alice", "milk")) == 2
        upgrade(engine)
        with engine.begin() as connection:
            as_owner(connection, "alice")
            assert _search(connection, "alice", "milk") == ["Buy milk", "Oat milk"]
            as_owner(connection, "bob")
            assert _search(connection, "bob", "milk") == ["milk"]
