"""The second wall (PostgreSQL): Row-Level Security holds the app's session to the bound owner's
rows even where the application's own owner filter is missing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import Connection, Engine, insert, select, text
from sqlalchemy.exc import ProgrammingError

from fixtures import pg_databases
from fixtures.api import User, all_tasks, create_task
from fixtures.store_breaks import unscoped_rows
from todo_api.db import PoolOptions, make_engine, ping, transaction, utc_now
from todo_api.db.driver import SecondStatement
from todo_api.tasks import store
from todo_api.tasks.listing import DEFAULT_SORT, Sort

# Directly and through PgBouncer in transaction mode: the binding is transaction-local.
pytestmark = pytest.mark.pooler


@pytest.fixture
def engine(postgres: pg_databases.Database) -> Iterator[Engine]:
    """The application's engine: the app role, one pooled connection (reused on purpose)."""
    app_engine = make_engine(postgres.app_url)
    yield app_engine
    app_engine.dispose()


@pytest.fixture
def seeded(postgres: pg_databases.Database) -> dict[str, int]:
    """Two of alice's tasks and one of bob's, written past RLS by the administrator."""
    admin = postgres.admin_engine()
    counts = {"alice": 2, "bob": 1}
    with admin.begin() as connection:
        for owner, count in counts.items():
            for i in range(count):
                connection.execute(_row(owner, f"{owner} {i}"))
    admin.dispose()
    return counts


def _row(owner: str, title: str) -> Any:
    now = utc_now()
    return insert(store.TaskRow).values(
        owner_id=owner, title=title, completed=False, created_at=now, updated_at=now
    )


def app_session(engine: Engine, user_id: str | None) -> AbstractContextManager[Connection]:
    """A transaction exactly as a request gets it (db.transaction), bound to `user_id`."""
    return transaction(engine, user_id=user_id)


def _owners(session: Connection) -> list[str]:
    # No WHERE: the owner filter the application would add is deliberately left out.
    return sorted(session.execute(text("SELECT owner_id FROM tasks")).scalars())


def test_raw_select_without_owner_filter_sees_only_the_bound_users_rows(
    engine: Engine, seeded: dict[str, int]
) -> None:
    with app_session(engine, "alice") as session:
        assert _owners(session) == ["alice", "alice"]
    with app_session(engine, "bob") as session:
        assert _owners(session) == ["bob"]


def test_insert_for_another_owner_is_refused(engine: Engine, seeded: dict[str, int]) -> None:
    with (
        pytest.raises(ProgrammingError, match="row-level security"),
        app_session(engine, "alice") as session,
    ):
        session.execute(_row("bob", "planted by alice"))
    with app_session(engine, "bob") as session:
        assert _owners(session) == ["bob"]


def test_update_cannot_hand_a_row_to_another_owner(engine: Engine, seeded: dict[str, int]) -> None:
    with (
        pytest.raises(ProgrammingError, match="row-level security"),
        app_session(engine, "alice") as session,
    ):
        session.execute(text("UPDATE tasks SET owner_id = 'bob'"))


def test_unfiltered_update_and_delete_touch_only_the_bound_users_rows(
    engine: Engine, seeded: dict[str, int]
) -> None:
    with app_session(engine, "alice") as session:
        assert session.execute(text("UPDATE tasks SET title = 'mine now'")).rowcount == 2
        assert session.execute(text("DELETE FROM tasks")).rowcount == 2
    with app_session(engine, "bob") as session:
        titles = session.execute(text("SELECT title FROM tasks")).scalars().all()
        assert titles == ["bob 0"]


def test_a_transaction_bound_to_nobody_sees_and_writes_nothing(
    engine: Engine, seeded: dict[str, int]
) -> None:
    with app_session(engine, None) as session:
        assert _owners(session) == []
    with (
        pytest.raises(ProgrammingError, match="row-level security"),
        app_session(engine, None) as session,
    ):
        session.execute(_row("alice", "unbound"))


def test_the_binding_ends_with_its_transaction_on_a_pooled_connection(
    postgres: pg_databases.Database, seeded: dict[str, int]
) -> None:
    # One connection, reused: the next transaction must not inherit alice.
    single = make_engine(postgres.app_url, PoolOptions(size=1, max_overflow=0))
    with app_session(single, "alice") as session:
        first = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert len(_owners(session)) == 2
    with app_session(single, None) as session:
        assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() == first
        assert _owners(session) == []
    single.dispose()


@pytest.mark.anyio
async def test_store_without_owner_filter_still_keeps_users_apart(
    pg_client: httpx.AsyncClient, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bug RLS exists for: list and get forget `owner_id` (the same breaks that
    contract_tests/test_suite_bites.py shows leaking on SQLite)."""

    def get_task(connection: Connection, *, owner_id: str, task_id: int) -> Any:
        by_number = store.TASKS.c.number == task_id
        return connection.execute(select(*store.COLUMNS).where(by_number)).first()

    await create_task(pg_client, alice, "alice's first")
    secret = await create_task(pg_client, alice, "alice's secret")  # 2: bob has no task 2
    await create_task(pg_client, bob, "bob's")
    monkeypatch.setattr(store, "_list_rows", unscoped_rows)  # every list's rows are read here
    monkeypatch.setattr(store, "get_task", get_task)

    assert [task["title"] for task in await all_tasks(pg_client, bob)] == ["bob's"]
    stolen = await pg_client.get(f"/api/{bob.id}/tasks/{secret['id']}", headers=bob.headers)
    assert stolen.status_code == 404
    assert [task["title"] for task in await all_tasks(pg_client, alice)] == [
        "alice's secret",
        "alice's first",
    ]


# A single-statement transaction (db.transaction(single=True), research P22): the bind and the
# statement go to PostgreSQL as one query string, run as one implicit transaction.


def _sent_on_the_driver(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(cursor class, query) of every statement psycopg's cursors send from now on."""
    sent: list[tuple[str, str]] = []
    real = psycopg.Cursor.execute

    def spy(cursor: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append((type(cursor).__name__, pg_databases.as_sent(cursor, query, *args)))
        return real(cursor, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", spy)
    return sent


NEWEST_FIRST = store.ListQuery(Sort.named(DEFAULT_SORT))


def test_a_single_statement_transaction_is_one_exchange_bound_by_itself(
    engine: Engine, seeded: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    ping(engine)  # SQLAlchemy's first-connect queries are not the transaction's
    sent = _sent_on_the_driver(monkeypatch)
    with transaction(engine, "alice", single=True) as session:
        rows = store.list_tasks(session, owner_id="alice", query=NEWEST_FIRST, limit=10)
    assert [row.title for row in rows] == ["alice 1", "alice 0"]
    assert [kind for kind, _ in sent] == ["ClientCursor"]
    bind, statement = sent[0][1].split(";\n")
    assert bind.startswith("SELECT set_config('app.user_id'")
    assert "'alice', true)" in bind
    assert "owner_id = 'alice'" in statement
    # The same statement without the bind sees nothing: what alice saw, the bind of the same
    # exchange let her see.
    with transaction(engine, None) as session:
        driver = session.connection.driver_connection
        assert driver is not None
        assert driver.execute(statement).fetchall() == []


def test_the_single_exchange_binding_ends_with_its_transaction(
    postgres: pg_databases.Database, seeded: dict[str, int]
) -> None:
    one = make_engine(postgres.app_url, PoolOptions(size=1, max_overflow=0))
    with transaction(one, "alice", single=True) as session:
        assert len(store.list_tasks(session, owner_id="alice", query=NEWEST_FIRST, limit=10)) == 2
    with app_session(one, None) as session:
        assert _owners(session) == []
    one.dispose()


def test_a_single_statement_transaction_refuses_a_second_statement(
    engine: Engine, seeded: dict[str, int]
) -> None:
    with transaction(engine, "alice", single=True) as session:
        assert store.get_task(session, owner_id="alice", task_id=1) is not None
        with pytest.raises(SecondStatement):
            store.task_exists(session, owner_id="alice", task_id=1)
        with pytest.raises(SecondStatement):
            session.execute(text("SELECT 1"))


def test_sqlalchemys_execute_in_a_single_statement_transaction_is_bound_first(
    engine: Engine, seeded: dict[str, int]
) -> None:
    # A statement the store does not run on the driver: the bind runs before it, and the
    # transaction commits at its end as any other.
    with transaction(engine, "alice", single=True) as session:
        assert _owners(session) == ["alice", "alice"]
        assert store.get_task(session, owner_id="alice", task_id=1) is not None
    with transaction(engine, "bob", single=True) as session:
        assert _owners(session) == ["bob"]


@pytest.mark.parametrize("single", [True, False], ids=["single", "opening"])
def test_a_raw_driver_statement_first_in_a_transaction_is_bound_first(
    engine: Engine, seeded: dict[str, int], single: bool
) -> None:
    # `exec_driver_sql` passes by SQLAlchemy's `before_execute`: bound all the same.
    for user, owned in (("alice", 2), ("bob", 1)):
        with transaction(engine, user, single=single) as session:
            counted = session.exec_driver_sql("SELECT count(*) FROM tasks").scalar_one()
            assert counted == owned


# Any other transaction bound to a user (research P27): BEGIN, the bind and its first statement
# in one exchange, its other statements in the transaction that opened, the COMMIT on its own.


def _commits(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """One entry per psycopg `commit()` from now on."""
    commits: list[str] = []
    real = psycopg.Connection.commit

    def spy(connection: psycopg.Connection[Any]) -> None:
        commits.append("COMMIT")
        real(connection)

    monkeypatch.setattr(psycopg.Connection, "commit", spy)
    return commits


def test_a_write_opens_in_one_exchange_and_commits_in_another(
    postgres: pg_databases.Database, seeded: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    one = make_engine(postgres.app_url, PoolOptions(size=1, max_overflow=0))
    ping(one)
    sent = _sent_on_the_driver(monkeypatch)
    commits = _commits(monkeypatch)
    with transaction(one, "alice") as session:
        toggled = store.toggle_task(session, owner_id="alice", task_id=1)
        assert toggled is not None
        assert toggled.completed
        # The bind of the first exchange holds for the statements after it (RLS, no filter).
        assert _owners(session) == ["alice", "alice"]
        assert commits == []
    assert commits == ["COMMIT"]
    assert [kind for kind, _ in sent] == ["ClientCursor", "Cursor"]
    begin, bind, statement = sent[0][1].split(";\n")
    assert begin == "BEGIN"
    assert bind.startswith("SELECT set_config('app.user_id'")
    assert "'alice', true)" in bind
    assert statement.startswith("UPDATE tasks")
    # The connection went back to the pool out of autocommit: the next transaction on it is
    # one transaction, whose bind holds for its second statement.
    with app_session(one, "alice") as session:
        assert _owners(session) == ["alice", "alice"]
    with app_session(one, None) as session:
        assert _owners(session) == []
    one.dispose()


def test_a_write_that_fails_after_its_first_exchange_is_rolled_back_whole(
    postgres: pg_databases.Database, seeded: dict[str, int]
) -> None:
    one = make_engine(postgres.app_url, PoolOptions(size=1, max_overflow=0))

    def abandoned() -> None:  # as a request abandoned at shutdown (RequestAbandoned)
        with transaction(one, "alice") as session:
            assert store.toggle_task(session, owner_id="alice", task_id=1) is not None
            raise RuntimeError

    with pytest.raises(RuntimeError):
        abandoned()
    with transaction(one, "alice", single=True) as session:
        task = store.get_task(session, owner_id="alice", task_id=1)
    assert task is not None
    assert not task.completed
    with app_session(one, "alice") as session:
        assert _owners(session) == ["alice", "alice"]
    one.dispose()


@pytest.mark.anyio
async def test_a_write_whose_commit_fails_is_503_never_2xx_and_writes_nothing(
    pg_client: httpx.AsyncClient, postgres: pg_databases.Database, alice: User
) -> None:
    kept = await create_task(pg_client, alice, "kept")
    admin = postgres.admin_engine()
    with admin.begin() as connection:
        # Checked at COMMIT, not at the statement: the single exchange must read the commit's
        # outcome before it answers. 40001: a serialization failure, as a concurrent
        # SERIALIZABLE transaction would get it.
        connection.execute(
            text(
                "CREATE FUNCTION refuse_doomed() RETURNS trigger LANGUAGE plpgsql AS $$"
                " BEGIN IF NEW.title = 'doomed' THEN"
                " RAISE EXCEPTION 'refused at commit' USING ERRCODE = '40001'; END IF;"
                " RETURN NULL; END $$"
            )
        )
        connection.execute(
            text(
                "CREATE CONSTRAINT TRIGGER refuse_doomed AFTER INSERT OR UPDATE ON tasks"
                " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_doomed()"
            )
        )
    admin.dispose()
    base = f"/api/{alice.id}/tasks"
    for method, path in (("POST", base), ("PATCH", f"{base}/{kept['id']}")):
        answer = await pg_client.request(
            method, path, json={"title": "doomed"}, headers=alice.headers
        )
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
    assert [task["title"] for task in await all_tasks(pg_client, alice)] == ["kept"]


@pytest.mark.anyio
async def test_values_bound_on_the_client_arrive_as_values(
    pg_client: httpx.AsyncClient, alice: User
) -> None:
    # The single exchange quotes values into its query (psycopg's ClientCursor): quotes,
    # backslashes, a statement separator, placeholders and non-ASCII must come back verbatim.
    hostile = "it's \\' done'); DELETE FROM tasks; -- %(owner_id)s %s $1 ünï"
    created = await create_task(pg_client, alice, hostile, description="\\x00 ''")
    answer = await pg_client.get(f"/api/{alice.id}/tasks/{created['id']}", headers=alice.headers)
    assert answer.status_code == 200
    assert (answer.json()["title"], answer.json()["description"]) == (hostile, "\\x00 ''")
    assert [task["title"] for task in await all_tasks(pg_client, alice)] == [hostile]


def test_the_search_function_finds_the_bound_users_tasks_only(
    engine: Engine, seeded: dict[str, int]
) -> None:
    """It reads as the schema owner, past the policy (migration 0006): its own owner condition
    keeps users apart, bound to nobody it finds nothing, and only readers of tasks may call it."""

    def found(session: Connection, pattern: str) -> list[int]:
        search = text("SELECT task_numbers_matching(:pattern, 101)")
        return sorted(session.execute(search, {"pattern": pattern}).scalars())

    with app_session(engine, "alice") as session:
        assert found(session, "%alice%") == [1, 2]
        assert found(session, "%bob%") == []
    with app_session(engine, "bob") as session:
        assert found(session, "%") == [1]
        assert found(session, "%alice%") == []
    with app_session(engine, None) as session:
        assert found(session, "%") == []
        public = text(
            "SELECT has_function_privilege('public', 'task_numbers_matching(text, integer)', "
            "'EXECUTE')"
        )
        assert session.execute(public).scalar_one() is False


def test_the_trigram_search_finds_the_bound_users_tasks_only(
    engine: Engine, seeded: dict[str, int]
) -> None:
    """Migration 0007's function reads as the schema owner too: the needle's keys are the bound
    user's own trigrams, and its owner condition holds alone where the keys narrow nothing (a
    needle under three characters has none): another user's tasks are never found, bound to
    nobody nothing is, and only readers of tasks may call it."""

    def found(session: Connection, pattern: str, needle: str) -> list[int]:
        search = text("SELECT task_trigram_matches(:pattern, :needle, 101)")
        return sorted(session.execute(search, {"pattern": pattern, "needle": needle}).scalars())

    with app_session(engine, "alice") as session:
        assert found(session, "%alice%", "alice") == [1, 2]
        assert found(session, "%bob 0%", "bob 0") == []
        assert found(session, "%b%", "b") == []  # no keys: every task a candidate
        keys = text("SELECT task_trigram_keys(:owner, ARRAY['bob 0'])")
        # The same text's keys differ per owner: alice's lookup never meets bob's postings.
        assert (
            session.execute(keys, {"owner": "alice"}).scalar_one()
            != session.execute(keys, {"owner": "bob"}).scalar_one()
        )
    with app_session(engine, "bob") as session:
        assert found(session, "%bob 0%", "bob 0") == [1]
        assert found(session, "%a%", "a") == []
    with app_session(engine, None) as session:
        assert found(session, "%", "") == []
        assert found(session, "%alice%", "alice") == []
        public = text(
            "SELECT has_function_privilege('public', "
            "'task_trigram_matches(text, text, integer)', 'EXECUTE')"
        )
        assert session.execute(public).scalar_one() is False


def test_the_search_page_function_returns_the_bound_users_tasks_only(
    engine: Engine, seeded: dict[str, int]
) -> None:
    """Migration 0008's function reads the tasks as its caller (SECURITY INVOKER), under the
    policy, and tests the bound user itself: another user's tasks never come back, bound to nobody
    nothing does, only readers of tasks may call it; more matches than asked: one row of NULLs."""

    def found(session: Connection, needle: str, found_max: int = 100) -> list[Any]:
        search = text(
            "SELECT owner_id, number FROM task_search_found(:pattern, :needle, :found_max)"
        )
        params = {"pattern": f"%{needle}%", "needle": needle, "found_max": found_max}
        return sorted(tuple(row) for row in session.execute(search, params))

    with app_session(engine, "alice") as session:
        assert found(session, "alice") == [("alice", 1), ("alice", 2)]
        assert found(session, "bob 0") == []
        assert found(session, "alice", found_max=1) == [(None, None)]
    with app_session(engine, "bob") as session:
        assert found(session, "bob 0") == [("bob", 1)]
        assert found(session, "alice") == []
    with app_session(engine, None) as session:
        assert found(session, "alice") == []
        public = text(
            "SELECT has_function_privilege('public', "
            "'task_search_found(text, text, integer)', 'EXECUTE')"
        )
        assert session.execute(public).scalar_one() is False
        invoker = text(
            "SELECT prosecdef FROM pg_proc "
            "WHERE oid = to_regprocedure('task_search_found(text, text, integer)')"
        )
        assert session.execute(invoker).scalar_one() is False
