"""db/driver.py: the statements the store runs on the driver send what SQLAlchemy would send for
the same Core statement, and their rows come back as SQLAlchemy's would, on both databases.

Each statement runs twice in a transaction that is rolled back: through `Connection.execute`
(SQLAlchemy's compile, parameter and result processing, the SQL captured at the cursor) and
through the driver. The SQL text, the parameters and the rows, value and type, must be equal.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import combinations
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, select, text
from sqlalchemy.exc import DBAPIError

from fixtures import pg_databases
from todo_api.db import DriverStatement, bind_user, make_engine, transaction
from todo_api.db.driver import NotDriverReady
from todo_api.db.lifecycle import upgrade
from todo_api.db.transactions import _BIND_USER
from todo_api.errors import DatabaseUnavailable
from todo_api.settings import Settings
from todo_api.tasks import store
from todo_api.tasks.listing import SORTS, Sort
from todo_api.tasks.schemas import TASK_LIST_JSON, Task

OWNER = "alice"
NOW = datetime(2026, 12, 2, 9, 30, 15, 123456, tzinfo=UTC)
NEW_TASK = {
    "owner_id": OWNER,
    "number": 3,  # the fixture's tasks are 1 and 2
    "title": "write the report",
    "description": "with figures",
    "completed": False,
    "due_at": NOW,
    "priority": "high",
    "created_at": NOW,
    "updated_at": NOW,
}


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    made = make_engine(settings.database_url)
    if made.dialect.name == "sqlite":
        upgrade(made)
    yield made
    made.dispose()


def _two_tasks(engine: Engine) -> int:
    """Tasks 1 and 2 of OWNER; the stored id of the second."""
    with transaction(engine, OWNER) as connection:
        for number, title, due_at in ((1, "older", None), (2, "newer", NOW)):
            values = NEW_TASK | {"number": number, "title": title, "due_at": due_at}
            row = connection.execute(store._CREATE.statement, values).one()
    return int(row.id)


@pytest.fixture
def task_id(engine: Engine) -> int:
    return _two_tasks(engine)


# A key before every task in each direction, so that each keyset statement returns rows.
AFTER_KEYS: dict[bool, dict[str, Any]] = {
    False: {
        "updated_at": NOW.replace(year=2000),
        "due_at": NOW.replace(year=2000),
        "priority": "low",
        "title": "a",
    },
    True: {
        "updated_at": NOW.replace(year=2100),
        "due_at": NOW.replace(year=2100),
        "priority": "high",
        "title": "z",
    },
}


def _list_shapes() -> list[store.ListShape]:
    """Every sort with each kind of cursor, then each filter on its own and all together."""
    shapes = []
    for name in SORTS:
        sort = Sort.named(name)  # type: ignore[arg-type]
        shapes += [store.ListShape(sort, "none"), store.ListShape(sort, "key")]
        if sort.field == "due_at":
            shapes += [store.ListShape(sort, kind, undated=True) for kind in ("none", "key")]
    default = Sort.named("-created_at")
    shapes += [
        store.ListShape(default, "none", by_status=True),
        store.ListShape(default, "none", due_after=True),
        store.ListShape(default, "none", by_priority=True),
        store.ListShape(default, "none", search=True),
        store.ListShape(default, "key", search=True, texts_index=True),
        store.ListShape(Sort.named("created_at"), "none", search=True, texts_index=True),
        store.ListShape(default, "key", True, True, True, True, True),
    ]
    return shapes


def _cases(task_id: int) -> list[tuple[str, DriverStatement, dict[str, Any]]]:
    """Every statement the store and the transaction run on the driver, with parameters."""
    owned = {store._OWNER: OWNER, store._ID: task_id}
    cases: list[tuple[str, DriverStatement, dict[str, Any]]] = []
    for shape in _list_shapes():
        params: dict[str, Any] = {store._OWNER: OWNER, "p_limit": 21}
        if shape.by_status:
            params["p_completed"] = False
        if shape.after != "none":
            params["p_after_id"] = task_id + 1 if shape.sort.descending else 0
        if shape.after == "key" and shape.sort.field != "created_at" and not shape.undated:
            params["p_after_key"] = AFTER_KEYS[shape.sort.descending][shape.sort.field]
        if shape.due_before:
            params["p_due_before"] = NOW.replace(year=2100)
        if shape.due_after:
            params["p_due_after"] = NOW
        if shape.by_priority:
            params["p_priority"] = "high"
        if shape.search:
            params["p_like"] = "%figures%"
        cases.append((f"list-{shape}", store.list_statement(shape), params))
    cases += [
        ("get", store._GET, owned),
        ("exists", store._EXISTS, owned),
        ("create", store._CREATE, NEW_TASK),
        ("create-within-quota", store._CREATE_WITHIN_QUOTA, NEW_TASK | {"p_max_tasks": 3}),
        ("bind-user", _BIND_USER, {"user_id": OWNER}),
    ]
    conditions = {"none": {}, "one": {store._VERSION: 1}}
    for condition, expected in conditions.items():
        cases.append(
            (f"toggle-{condition}", store._TOGGLE[condition], owned | {store._NOW: NOW} | expected)
        )
        cases.append((f"delete-{condition}", store._DELETE[condition], owned | expected))
        for size in range(1, len(store.WRITABLE) + 1):
            for columns in combinations(store.WRITABLE, size):
                values = {
                    "p_title": "renamed",
                    "p_description": None,
                    "p_completed": True,
                    "p_due_at": NOW,
                    "p_priority": "low",
                }
                params = {f"p_{name}": values[f"p_{name}"] for name in columns}
                cases.append(
                    (
                        f"update-{'+'.join(columns)}-{condition}",
                        store._update_statement(columns, condition),
                        params | owned | {store._NOW: NOW} | expected,
                    )
                )
    return cases


@contextmanager
def _rolled_back(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection, connection.begin() as outer:
        bind_user(connection, OWNER)
        yield connection
        outer.rollback()


def _through_sqlalchemy(
    engine: Engine, statement: DriverStatement, params: dict[str, Any]
) -> tuple[str, Any, list[tuple[Any, ...]]]:
    sent: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        sent.append((args[2], args[3]))  # statement, parameters: what the cursor is given

    with _rolled_back(engine) as connection:
        event.listen(connection, "before_cursor_execute", capture)
        rows = [tuple(row) for row in connection.execute(statement.statement, params)]
    (sql, values) = sent[-1]
    return sql, values, rows


def _through_the_driver(
    engine: Engine, statement: DriverStatement, params: dict[str, Any]
) -> tuple[str, Any, list[tuple[Any, ...]]]:
    with _rolled_back(engine) as connection:
        rendered = statement.rendered(connection.dialect)
        rows = statement.rows(connection, params)
    return rendered.sql, rendered.values(params), rows


def _decoded(engine: Engine, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    decode = store._DECODE[engine.dialect.name]
    return [tuple(decode(row)) for row in rows]


def _typed(rows: list[tuple[Any, ...]]) -> list[list[tuple[type, Any]]]:
    # Types too: 1 == True and a naive datetime is not an aware one.
    return [[(type(value), value) for value in row] for row in rows]


def test_driver_statements_send_and_return_what_sqlalchemy_does(
    engine: Engine, task_id: int
) -> None:
    cases = _cases(task_id)
    if engine.dialect.name == "sqlite":  # PostgreSQL functions
        cases = [case for case in cases if case[0] != "bind-user"]
        cases.append(("next-number", store._NEXT_NUMBER, {store._OWNER: OWNER}))
    else:
        cases.append(("lock-owner", store._LOCK_OWNER, {"owner_id": OWNER}))
        # The counter and the task in one statement (a data-modifying CTE: PostgreSQL's only).
        with transaction(engine, OWNER) as connection:  # the fixture's tasks are numbered
            connection.execute(store.COUNTERS.insert(), {"owner_id": OWNER, "last_number": 2})
        numbered = {name: value for name, value in NEW_TASK.items() if name != "number"}
        numbered[store._OWNER] = numbered.pop("owner_id")
        cases += [
            ("create-numbered", store._CREATE_NUMBERED[False], numbered),
            (
                "create-numbered-within-quota",
                store._CREATE_NUMBERED[True],
                numbered | {"p_max_tasks": 3},
            ),
        ]
    differences = []
    for name, statement, params in cases:
        sql, values, rows = _through_sqlalchemy(engine, statement, params)
        driver_sql, driver_values, driver_rows = _through_the_driver(engine, statement, params)
        if driver_sql != sql:
            differences.append(f"{name}: SQL\n  {driver_sql!r}\n  {sql!r}")
        if driver_values != (tuple(values) if isinstance(values, list | tuple) else values):
            differences.append(f"{name}: parameters {driver_values!r} != {values!r}")
        columns = [column.name for column in statement.statement.exported_columns]
        if columns == list(store.FIELDS):
            driver_rows = _decoded(engine, driver_rows)
        if name.startswith("create"):  # a PostgreSQL sequence does not roll back: the next id
            driver_rows, rows = [r[1:] for r in driver_rows], [r[1:] for r in rows]
        if _typed(driver_rows) != _typed(rows):
            differences.append(f"{name}: rows {driver_rows!r} != {rows!r}")
        if not rows and not name.startswith(("bind", "lock")):
            differences.append(f"{name}: no row to compare")
    assert differences == []


def test_a_single_exchange_returns_what_the_driver_returns_in_a_transaction(
    engine: Engine, task_id: int
) -> None:
    # On PostgreSQL the single exchange binds the values on the client and reads the rows of a
    # simple query (research P22): the same rows, value and type. The writes commit there, so
    # the reads only (every write shape is compared above, on the driver's own path).
    differences = []
    for name, statement, params in _cases(task_id):
        if not name.startswith(("list", "get", "exists")):
            continue
        _, _, rows = _through_the_driver(engine, statement, params)
        with transaction(engine, OWNER, single=True) as connection:
            single = statement.rows(connection, params)
        if _typed(single) != _typed(rows):
            differences.append(f"{name}: rows {single!r} != {rows!r}")
        if not rows:
            differences.append(f"{name}: no row to compare")
    assert differences == []


def test_rows_taken_as_the_api_task_give_the_task_of_their_record(
    engine: Engine, task_id: int
) -> None:
    # A page of a list goes to pydantic from the rows' own values (store.list_page), not through
    # Records: the same Task, and the same JSON, as the Record gives. The rows hold a due date
    # and none, microseconds and none.
    with transaction(engine, OWNER) as connection:
        connection.execute(
            store._CREATE.statement,
            NEW_TASK | {"created_at": NOW.replace(microsecond=0), "description": None},
        )
    dialect = engine.dialect.name
    differences = []
    seen = 0
    for name, statement, params in _cases(task_id):
        if not name.startswith(("list", "get")):
            continue
        _, _, rows = _through_the_driver(engine, statement, params)
        for row in rows:
            seen += 1
            record = store._DECODE[dialect](row)
            expected = Task.model_validate(record._asdict())
            taken = Task.model_validate(store._FIELDS[dialect](row))
            if (taken, taken.model_dump_json()) != (expected, expected.model_dump_json()):
                differences.append(f"{name}: {taken.model_dump_json()} != {expected!r}")
    assert seen > 0
    assert differences == []


def test_a_page_is_the_rows_of_the_list_and_where_the_next_starts(engine: Engine) -> None:
    with transaction(engine, OWNER) as connection:
        for number, title in enumerate(("a", "b", "c"), start=3):
            values = NEW_TASK | {"number": number, "title": title}
            connection.execute(store._CREATE.statement, values)
    query = store.ListQuery(Sort.named("-created_at"))
    with transaction(engine, OWNER) as connection:
        records = store.list_tasks(connection, owner_id=OWNER, query=query, limit=3)
        first = store.list_page(connection, owner_id=OWNER, query=query, limit=2)
        whole = store.list_page(connection, owner_id=OWNER, query=query, limit=3)
    assert [task["title"] for task in first.tasks] == ["c", "b"]
    assert first.more
    assert first.last == records[1]
    assert [task["title"] for task in whole.tasks] == ["c", "b", "a"]
    assert not whole.more
    assert whole.last is None


def test_every_statement_decoded_as_a_record_returns_the_task_columns() -> None:
    """The decoders take a row of COLUMNS by position: a statement that returns other columns,
    or the same in another order, would be decoded wrongly without an error."""
    decoded = [
        store._GET,
        store._CREATE,
        store._CREATE_WITHIN_QUOTA,
        *(store.list_statement(shape) for shape in _list_shapes()),
        *store._TOGGLE.values(),
        *(store._update_statement(("title",), condition) for condition in store._CONDITIONS),
    ]
    for statement in decoded:
        columns = list(statement.statement.exported_columns)
        assert [(c.name, type(c.type)) for c in columns] == [
            (c.name, type(c.type)) for c in store.COLUMNS
        ]


def test_an_expanding_in_is_left_to_sqlalchemy() -> None:
    with pytest.raises(NotDriverReady):
        store._TOGGLE["many"].rendered(make_engine("sqlite://").dialect)


def test_a_driver_error_is_the_one_sqlalchemy_raises(engine: Engine) -> None:
    missing = DriverStatement(select(text("1")).select_from(text("no_such_table")))
    with engine.connect() as connection, pytest.raises(DBAPIError) as through_sqlalchemy:
        connection.execute(missing.statement)
    with engine.connect() as connection, pytest.raises(DBAPIError) as through_the_driver:
        missing.rows(connection, {})
    assert type(through_the_driver.value) is type(through_sqlalchemy.value)
    assert type(through_the_driver.value.orig) is type(through_sqlalchemy.value.orig)
    assert not through_the_driver.value.connection_invalidated
    if engine.dialect.name == "sqlite":  # "no such table" is an OperationalError there: 503
        with pytest.raises(DatabaseUnavailable), transaction(engine, OWNER) as connection:
            missing.rows(connection, {})
    with transaction(engine, OWNER) as connection:
        assert store.get_task(connection, owner_id=OWNER, task_id=0) is None


def test_a_connection_lost_under_a_driver_statement_is_503_and_not_reused(
    postgres: pg_databases.Database,
) -> None:
    engine = make_engine(postgres.app_url)
    lost: list[int] = []

    def get_after_losing_the_connection() -> None:
        with transaction(engine, OWNER) as connection:
            lost.append(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
            admin = postgres.admin_engine()
            with admin.begin() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": lost[0]})
            admin.dispose()
            store.get_task(connection, owner_id=OWNER, task_id=1)

    with pytest.raises(DatabaseUnavailable):
        get_after_losing_the_connection()
    pid = lost[0]
    with transaction(engine, OWNER) as connection:
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
        assert store.get_task(connection, owner_id=OWNER, task_id=1) is None
    engine.dispose()


def test_a_naive_datetime_is_refused_on_the_driver_too(engine: Engine, task_id: int) -> None:
    """The parameters go through the column types' bind processors, UTCDateTime's check too."""
    naive = {store._OWNER: OWNER, store._ID: task_id, store._NOW: NOW.replace(tzinfo=None)}
    with pytest.raises(ValueError, match="naive"), _rolled_back(engine) as connection:
        store._TOGGLE["none"].rows(connection, naive)


@pytest.mark.parametrize("zone", ["Etc/UTC", "UTC", "Europe/Paris", "America/Caracas"])
def test_a_page_on_postgresql_is_the_same_json_in_a_session_of_any_time_zone(
    postgres: pg_databases.Database, zone: str
) -> None:
    # In a UTC session the page takes psycopg's timestamps as they are (store._page_fields);
    # in any other, each is converted: the JSON is the same, in UTC, whatever the session's.
    engine = make_engine(postgres.app_url)
    _two_tasks(engine)
    query = store.ListQuery(Sort.named("-created_at"))
    pages = []
    for setting in ("Etc/UTC", zone):
        with transaction(engine, OWNER) as connection:
            connection.exec_driver_sql(f"SET LOCAL TimeZone = '{setting}'")
            page = store.list_page(connection, owner_id=OWNER, query=query, limit=5)
        pages.append(TASK_LIST_JSON.dump_json({"items": page.tasks, "next_cursor": None}))
    engine.dispose()
    assert pages[0] == pages[1]
    assert b'"due_at":"2026-12-02T09:30:15.123456Z"' in pages[1]


def test_the_libpq_statuses_the_driver_reads_are_psycopgs() -> None:
    """The driver compares results and transactions to libpq's numbers without importing psycopg
    (a server on SQLite never loads it): they must be the ones psycopg reports."""
    from psycopg.pq import ExecStatus, TransactionStatus

    from todo_api.db.driver import TRANSACTION_IDLE, TUPLES_OK

    assert ExecStatus.TUPLES_OK == TUPLES_OK
    assert TransactionStatus.IDLE == TRANSACTION_IDLE
