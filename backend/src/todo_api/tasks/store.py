"""Task persistence. Every function takes the owner: nothing reads or writes a task by id alone.

The statements are built once, at import, with bound parameters: a request only supplies values.
Building a statement per call (and the ORM around it) cost more than running it on SQLite
(docs/benchmarks.md, "Before and after"). Those of a fixed shape run through the driver
(`db.DriverStatement`: compiled by SQLAlchemy once per dialect, research P19), and their rows
become `Record`s here, with the types the table's columns give them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal, NamedTuple

from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Identity,
    Index,
    Integer,
    Select,
    SmallInteger,
    String,
    Table,
    Update,
    and_,
    bindparam,
    column,
    delete,
    func,
    insert,
    not_,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction
from sqlalchemy.types import TypeDecorator

from todo_api.db.driver import DriverStatement
from todo_api.db.orm import Base, UTCDateTime, utc_now
from todo_api.tasks.listing import PRIORITIES, PRIORITY_RANK, After, Sort, like_text
from todo_api.tasks.search import PICK, PROBED, TRIGRAM, TRIGRAMS, trigrams


class PriorityRank(TypeDecorator[str]):
    """`low | normal | high` stored as its rank (0, 1, 2): sorting by the column is by rank."""

    impl = SmallInteger
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> int | None:
        return None if value is None else PRIORITY_RANK[value]

    def process_result_value(self, value: int | None, dialect: Dialect) -> str | None:
        return None if value is None else PRIORITIES[value]


class code_point_order(GenericFunction[str]):  # noqa: N801 (SQLAlchemy's function naming)
    """A text column compared by code point, as Python compares str: SQLite's BINARY collation
    does it already (UTF-8 byte order is code point order); PostgreSQL needs COLLATE "C"."""

    inherit_cache = True


@compiles(code_point_order)
def _code_point_order(element: code_point_order, compiler: SQLCompiler, **kw: object) -> str:
    return str(compiler.process(element.clauses.clauses[0], **kw))


@compiles(code_point_order, "postgresql")
def _code_point_order_pg(element: code_point_order, compiler: SQLCompiler, **kw: object) -> str:
    return "(" + str(compiler.process(element.clauses.clauses[0], **kw)) + ' COLLATE "C")'


class case_folded(GenericFunction[str]):  # noqa: N801 (SQLAlchemy's function naming)
    """A text column for a LIKE against a lower-cased pattern: `lower(column)` on PostgreSQL.
    SQLite's LIKE already ignores case, for ASCII letters only, as its lower() does: the
    bare column matches the same rows and lets the search read the text from an index."""

    inherit_cache = True


@compiles(case_folded)
def _case_folded(element: case_folded, compiler: SQLCompiler, **kw: object) -> str:
    return str(compiler.process(element.clauses.clauses[0], **kw))


@compiles(case_folded, "postgresql")
def _case_folded_pg(element: case_folded, compiler: SQLCompiler, **kw: object) -> str:
    return "lower(" + str(compiler.process(element.clauses.clauses[0], **kw)) + ")"


class unindexed(GenericFunction[str]):  # noqa: N801 (SQLAlchemy's function naming)
    """A column whose condition SQLite answers on the row, not from an index (`+column`): a
    search from the trigram postings reads its tasks by rowid, where the owner's index would
    read all of them."""

    inherit_cache = True


@compiles(unindexed)
def _unindexed(element: unindexed, compiler: SQLCompiler, **kw: object) -> str:
    return "+" + str(compiler.process(element.clauses.clauses[0], **kw))


@compiles(unindexed, "postgresql")
def _unindexed_pg(element: unindexed, compiler: SQLCompiler, **kw: object) -> str:
    return str(compiler.process(element.clauses.clauses[0], **kw))


class like_operand(GenericFunction[str]):  # noqa: N801 (SQLAlchemy's function naming)
    """A LIKE's bound pattern, on SQLite as an expression (`? || ''`): with a bare parameter
    SQLite's planner reads its value (the LIKE optimisation) and so re-prepares the statement
    at each execution, which cost more than the search itself (research L4)."""

    inherit_cache = True


@compiles(like_operand)
def _like_operand(element: like_operand, compiler: SQLCompiler, **kw: object) -> str:
    return "(" + str(compiler.process(element.clauses.clauses[0], **kw)) + " || '')"


@compiles(like_operand, "postgresql")
def _like_operand_pg(element: like_operand, compiler: SQLCompiler, **kw: object) -> str:
    return str(compiler.process(element.clauses.clauses[0], **kw))


class TaskRow(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        # The previous release's default list (0001); this release's lists and reads go by
        # number. Dropped in a later contract phase.
        Index("ix_tasks_owner_id_id", "owner_id", "id"),
        # One owner's task by its number, and "this owner's tasks, newest first" with the keyset
        # cursor (number < :before), in one range scan (migration 0005).
        Index("ux_tasks_owner_id_number", "owner_id", "number", unique=True),
        # The sorted lists: each page one range scan from the cursor, as for the default order.
        Index("ix_tasks_owner_id_due_at_number", "owner_id", "due_at", "number"),
        Index("ix_tasks_owner_id_priority_number", "owner_id", "priority", "number"),
        Index("ix_tasks_owner_id_updated_at_number", "owner_id", "updated_at", "number"),
        # `sort=title` compares by code point (`code_point_order`): on PostgreSQL the migration
        # builds this index's title under COLLATE "C", which reflection does not show
        # (tasks/test_lists.py checks the plan uses it).
        Index("ix_tasks_owner_id_title_number", "owner_id", "title", "number"),
        # SQLite only (the migration; PostgreSQL would read the row before testing the text):
        # `q` tests each task's texts in the index and reads only the matches from the table.
        Index("ix_tasks_owner_id_number_texts", "owner_id", "number", "title", "description"),
        # SQLite's AUTOINCREMENT keeps ids strictly increasing even after deletes, so id order is
        # creation order and a cursor never meets a reused id.
        {"sqlite_autoincrement": True},
    )

    # 64-bit ids as the contract says; SQLite's INTEGER PRIMARY KEY is already 64-bit and must be
    # spelled INTEGER to be the rowid (and so to AUTOINCREMENT). On PostgreSQL a BIGINT identity,
    # ALWAYS so that no client-chosen id can collide with one the sequence hands out later.
    # The schema itself comes from the Alembic migrations (todo_api/db/migrations), which a test
    # keeps equal to this model.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        Identity(always=True),
        primary_key=True,
        autoincrement=True,
    )
    owner_id: Mapped[str] = mapped_column(String(128), nullable=False)
    # The task's id in the API: its place among its owner's tasks, from the owner's counter
    # (TaskCounterRow), so that ids reveal nothing of other users (migration 0005, research L2).
    # Nullable only for the rollout: the previous release's INSERTs are numbered by a trigger.
    number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    completed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Migration 0004; the server defaults serve the release before it, whose INSERTs name
    # neither column.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    priority: Mapped[str] = mapped_column(PriorityRank, nullable=False, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # 1 on create, +1 in every UPDATE this release runs: the ETag, compared by If-Match in the
    # write statement itself (migration 0002; the server default serves the previous release).
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("1"))


TASKS: Table = TaskRow.__table__  # type: ignore[assignment]


class TaskCounterRow(Base):
    """Each owner's last task number. Incremented in the create's transaction: its row lock
    serialises one owner's creates, and a deleted task's number is never handed out again
    (max + 1 would reuse it, and a cursor would meet it twice)."""

    __tablename__ = "task_counters"

    owner_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_number: Mapped[int] = mapped_column(BigInteger, nullable=False)


COUNTERS: Table = TaskCounterRow.__table__  # type: ignore[assignment]

# The columns of the API's Task, in this order: rows unpack into FIELDS.
COLUMNS = (
    TASKS.c.number.label("id"),
    TASKS.c.title,
    TASKS.c.description,
    TASKS.c.completed,
    TASKS.c.due_at,
    TASKS.c.priority,
    TASKS.c.created_at,
    TASKS.c.updated_at,
    TASKS.c.version,
)
FIELDS = tuple(column.name for column in COLUMNS)


class Record(NamedTuple):
    """A row of COLUMNS, with the types the API's Task has (datetimes aware, in UTC)."""

    id: int
    title: str
    description: str | None
    completed: bool
    due_at: datetime | None
    priority: str
    created_at: datetime
    updated_at: datetime
    version: int


assert Record._fields == FIELDS


def _sqlite_stamp(value: str) -> datetime:
    # What UTCDateTime does on SQLite, which stores UTC as text without a zone (SQLAlchemy's
    # "2026-12-02 09:30:15.123456"): the zone is put back in the parse itself, one C call; a
    # `.replace(tzinfo=UTC)` afterwards was a second call per value, on every row (research P19).
    return datetime.fromisoformat(value + "+00:00")


def _sqlite_record(row: tuple[Any, ...]) -> Record:
    id_, title, description, completed, due_at, priority, created_at, updated_at, version = row
    return Record(
        id_,
        title,
        description,
        bool(completed),  # SQLite's 0/1
        None if due_at is None else _sqlite_stamp(due_at),
        PRIORITIES[priority],
        _sqlite_stamp(created_at),
        _sqlite_stamp(updated_at),
        version,
    )


def _postgresql_record(row: tuple[Any, ...]) -> Record:
    # psycopg gives timestamptz aware, in the session's zone; booleans and integers as they are.
    id_, title, description, completed, due_at, priority, created_at, updated_at, version = row
    return Record(
        id_,
        title,
        description,
        completed,
        None if due_at is None else due_at.astimezone(UTC),
        PRIORITIES[priority],
        created_at.astimezone(UTC),
        updated_at.astimezone(UTC),
        version,
    )


# The driver's rows of COLUMNS to Records, per dialect: the same values and types as SQLAlchemy's
# result processing gives (db/test_driver.py compares them for every statement).
_DECODE: dict[str, Callable[[tuple[Any, ...]], Record]] = {
    "sqlite": _sqlite_record,
    "postgresql": _postgresql_record,
}


def _sqlite_fields(row: tuple[Any, ...]) -> dict[str, Any]:
    # A page of rows goes to the API's Task in one pydantic call (service.py), which parses the
    # values itself: SQLite's timestamp text with its zone put back ("Z"), its 0/1 as it is (a
    # bool to pydantic's lax mode). Nothing per value in Python but the rank's name.
    id_, title, description, completed, due_at, priority, created_at, updated_at, version = row
    return {
        "id": id_,
        "title": title,
        "description": description,
        "completed": completed,
        "due_at": None if due_at is None else due_at + "Z",
        "priority": PRIORITIES[priority],
        "created_at": created_at + "Z",
        "updated_at": updated_at + "Z",
        "version": version,
    }


def _postgresql_fields(row: tuple[Any, ...]) -> dict[str, Any]:
    return _postgresql_record(row)._asdict()


def _postgresql_utc_fields(row: tuple[Any, ...]) -> dict[str, Any]:
    # A session in UTC: psycopg's timestamps are already in UTC, and a dict is all pydantic
    # needs (no Record, no conversion per value; research P36).
    id_, title, description, completed, due_at, priority, created_at, updated_at, version = row
    return {
        "id": id_,
        "title": title,
        "description": description,
        "completed": completed,
        "due_at": due_at,
        "priority": PRIORITIES[priority],
        "created_at": created_at,
        "updated_at": updated_at,
        "version": version,
    }


# The names PostgreSQL (and so psycopg's `info.timezone`) gives UTC under.
_UTC_ZONES = frozenset(
    ("UTC", "Etc/UTC", "UCT", "Etc/UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu")
)


def _page_fields(connection: Connection) -> Callable[[tuple[Any, ...]], dict[str, Any]]:
    """How this connection's rows become a page's tasks: on PostgreSQL, without converting the
    timestamps when the session's time zone is UTC (the server's default setting, as shipped)."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        driver = connection.connection.driver_connection
        assert driver is not None
        zone = driver.info.timezone
        if zone is UTC or getattr(zone, "key", None) in _UTC_ZONES:
            return _postgresql_utc_fields
    return _FIELDS[dialect]


# The driver's rows of COLUMNS as the API's Task takes them, per dialect: the same Task as from
# the Record (db/test_driver.py compares them).
_FIELDS: dict[str, Callable[[tuple[Any, ...]], dict[str, Any]]] = {
    "sqlite": _sqlite_fields,
    "postgresql": _postgresql_fields,
}


def _first(
    connection: Connection, statement: DriverStatement, params: dict[str, Any]
) -> Record | None:
    rows = statement.rows(connection, params)
    return _DECODE[connection.dialect.name](rows[0]) if rows else None


WRITABLE = ("title", "description", "completed", "due_at", "priority")

# Parameter names differ from column names: in an UPDATE, a bindparam named like a column of its
# SET clause is refused.
_OWNER = "p_owner_id"
_ID = "p_task_id"
_NOW = "p_now"
_VERSION = "p_version"
_VERSIONS = "p_versions"

# The If-Match shapes of a write: none, one version (`version = :v`, the usual ETag) or several
# (`version IN (…)`, an expanding bind that is rendered anew at each execution, which made every
# write slower on SQLite: research W10).
Condition = Literal["none", "one", "many"]
_CONDITIONS: tuple[Condition, ...] = ("none", "one", "many")


def _owned_task() -> tuple[Any, Any]:
    """The one filter every by-id statement carries: this owner's task with this number (the
    API's id)."""
    return TASKS.c.owner_id == bindparam(_OWNER), TASKS.c.number == bindparam(_ID)


def _expected_version(condition: Condition) -> Any:
    """If-Match inside the write: the row is written only while its version is one of these.

    Check and write are one statement, so two writers holding the same ETag cannot both pass:
    SQLite runs writers one at a time, and PostgreSQL re-evaluates this condition on the row a
    concurrent writer committed before it takes the row (READ COMMITTED), which no longer matches.
    """
    if condition == "one":
        return TASKS.c.version == bindparam(_VERSION)
    return TASKS.c.version.in_(bindparam(_VERSIONS, expanding=True))


class ListShape(NamedTuple):
    """What varies between list statements: each shape is built and compiled once."""

    sort: Sort
    after: Literal["none", "key"]  # no cursor, or after the cursor's (key, id)
    by_status: bool = False
    due_before: bool = False
    due_after: bool = False
    by_priority: bool = False
    search: bool = False
    # Under a due_at sort, the tasks without one, in number order: they come after every dated
    # task, read by a second statement, so that each is a range of (owner_id, due_at, number).
    undated: bool = False
    # SQLite, a search in number order: the texts are read from their index (migration 0005).
    texts_index: bool = False
    # PostgreSQL, a search of three characters or more: the page sorts the bound user's
    # matches that `task_search_found` returns (migration 0008; `_found_statement`).
    found: bool = False
    # SQLite, a search whose pattern has a trigram the owner holds in few tasks (migration
    # 0007): the candidates are that trigram's postings (`p_trigram`).
    trigram: bool = False


def _sort_key(sort: Sort, columns: Any = TASKS.c) -> Any:
    column = columns[sort.field]
    return code_point_order(column) if sort.field == "title" else column


def _order(shape: ListShape, columns: Any = TASKS.c, number: Any = TASKS.c.number) -> list[Any]:
    sort = shape.sort
    order: list[Any] = []
    if sort.field != "created_at" and not shape.undated:
        key = _sort_key(sort, columns)
        order.append(key.desc() if sort.descending else key.asc())
    order.append(number.desc() if sort.descending else number.asc())
    return order


def _after(shape: ListShape, columns: Any = TASKS.c) -> Any:
    """Keyset: the rows strictly after the cursor's (key, id) in the sort's order."""
    sort = shape.sort

    def beyond(a: Any, b: Any) -> Any:
        return a < b if sort.descending else a > b

    last_id = bindparam("p_after_id", type_=BigInteger)
    if sort.field == "created_at" or shape.undated:  # number order (an owner's numbers only grow)
        return beyond(columns.number, last_id)
    key: Any = bindparam("p_after_key", type_=TASKS.c[sort.field].type)
    if sort.field == "title":
        key = code_point_order(key)
    return beyond(tuple_(_sort_key(sort, columns), columns.number), tuple_(key, last_id))


def _filters(shape: ListShape, columns: Any = TASKS.c) -> list[Any]:
    """The list's conditions besides the owner and the search: status, due dates, priority, the
    cursor, and under a due_at sort whether the task has a due date."""
    filters: list[Any] = []
    if shape.by_status:
        filters.append(columns.completed == bindparam("p_completed"))
    if shape.due_before:
        filters.append(columns.due_at < bindparam("p_due_before", type_=UTCDateTime))
    if shape.due_after:
        filters.append(columns.due_at >= bindparam("p_due_after", type_=UTCDateTime))
    if shape.by_priority:
        filters.append(columns.priority == bindparam("p_priority", type_=PriorityRank))
    if shape.after != "none":
        filters.append(_after(shape, columns))
    if shape.sort.field == "due_at":
        due_at = columns.due_at
        filters.append(due_at.is_(None) if shape.undated else due_at.isnot(None))
    return filters


def _list_statement(shape: ListShape) -> Select[*tuple[Any, ...]]:
    if shape.found:
        return _found_statement(shape)
    # One owner's rows only, however large the table: a range of an (owner_id, ...) index.
    owner = TASKS.c.owner_id == bindparam(_OWNER)
    conditions: list[Any] = [owner]
    if shape.trigram:
        # SQLite: the owner's tasks that hold the trigram, read by rowid from its postings.
        postings = select(TRIGRAMS.c.task_id).where(
            TRIGRAMS.c.owner_id == bindparam(_OWNER),
            TRIGRAMS.c.trigram == bindparam("p_trigram", type_=String),
        )
        conditions = [unindexed(TASKS.c.owner_id) == bindparam(_OWNER), TASKS.c.id.in_(postings)]
    if shape.search:
        # `p_like` is lower-cased and escaped by listing.like_pattern.
        pattern = like_operand(bindparam("p_like", type_=String))
        conditions.append(
            or_(
                case_folded(TASKS.c.title).like(pattern, escape="\\"),
                case_folded(TASKS.c.description).like(pattern, escape="\\"),
            )
        )
    conditions += _filters(shape)
    limit: Any = bindparam("p_limit")
    order = _order(shape)
    if not shape.texts_index:
        return select(*COLUMNS).where(*conditions).order_by(*order).limit(limit)
    # The page's numbers first, from the index that holds the texts (SQLite chooses an index
    # that covers its query over a narrower one that sends it to the table for every task's
    # texts), then those tasks' rows.
    numbers = select(TASKS.c.number).where(*conditions).order_by(*order).limit(limit)
    return select(*COLUMNS).where(owner, TASKS.c.number.in_(numbers)).order_by(*order)


def _found_statement(shape: ListShape) -> Select[*tuple[Any, ...]]:
    """PostgreSQL's search page for a pattern of three characters or more: the bound user's
    matches as `task_search_found` reads them (migration 0008: its statements planned once per
    server connection, research L5), filtered, sorted and cut here, a statement whose planning
    costs little. Its one row of NULLs says the pattern is frequent (more than `p_found_max`
    matches): `_list_rows` then answers None, and the LIKE in the sort's order reads the page."""
    found = (
        func.task_search_found(
            bindparam("p_like", type_=String),
            bindparam("p_needle", type_=String),
            bindparam("p_found_max", type_=Integer),
        )
        .table_valued(*(column(each.name, each.type) for each in TASKS.c))
        .alias("found")
    )
    columns = found.c
    owned = and_(columns.owner_id == bindparam(_OWNER), *_filters(shape, columns))
    return (
        select(columns.number.label("id"), *(columns[name] for name in FIELDS[1:]))
        .where(or_(columns.number.is_(None), owned))
        .order_by(*_order(shape, columns, columns.number))
        .limit(bindparam("p_limit"))
    )


# PostgreSQL, the LIKE alone (a pattern found frequent, or too short for a trigram, so likely
# frequent): the owner's tasks read in the sort's order, which stops once a page is found. The
# planner cannot know the LIKE is frequent (no statistics of the lower-cased texts; its default
# estimate is a few rows) and under some sorts would read every match of a filter's index and
# sort them (research L5). Transaction-local: nothing outlives the transaction (research D1).
_IN_ORDER = DriverStatement(select(func.set_config("enable_sort", "off", True)))


@cache
def list_statement(shape: ListShape) -> DriverStatement:
    return DriverStatement(_list_statement(shape))


# At most this many matches are read and sorted (PostgreSQL: migration 0008's function); above it
# the pattern is frequent, and the LIKE against the owner's tasks in the sort's order fills a page
# early.
SEARCH_FOUND_MAX = 100


_GET = DriverStatement(select(*COLUMNS).where(*_owned_task()))
_CREATED_COLUMNS = (
    "owner_id",
    "number",
    "title",
    "description",
    "completed",
    "due_at",
    "priority",
    "created_at",
    "updated_at",
)
_CREATE = DriverStatement(insert(TASKS).returning(*COLUMNS), column_keys=_CREATED_COLUMNS)
# The same insert, of nothing once the owner holds `p_max_tasks`: the count and the write are one
# statement. On SQLite a write statement holds the write lock from its first step, so no other
# writer can slip in between (PostgreSQL: `_CREATE_NUMBERED`).
_CREATE_WITHIN_QUOTA = DriverStatement(
    insert(TASKS)
    .from_select(
        list(_CREATED_COLUMNS),
        select(
            bindparam("owner_id", type_=String),
            bindparam("number", type_=BigInteger),
            bindparam("title", type_=String),
            bindparam("description", type_=String),
            bindparam("completed", type_=Boolean),
            bindparam("due_at", type_=UTCDateTime),
            bindparam("priority", type_=PriorityRank),
            bindparam("created_at", type_=UTCDateTime),
            bindparam("updated_at", type_=UTCDateTime),
        ).where(
            select(func.count())
            .select_from(TASKS)
            .where(TASKS.c.owner_id == bindparam("owner_id"))
            .scalar_subquery()
            < bindparam("p_max_tasks")
        ),
    )
    .returning(*COLUMNS)
)
# A transaction-scoped lock per owner (two-key form: a key space apart from the migration lock's).
# Under READ COMMITTED each statement sees the rows committed before it began, so two concurrent
# creates of one owner would both count the same total: the second now waits for the first's
# commit, and then counts its task. Other owners never wait.
_QUOTA_LOCK_CLASS = 0x7A5C
_LOCK_OWNER = DriverStatement(
    select(func.pg_advisory_xact_lock(_QUOTA_LOCK_CLASS, func.hashtext(bindparam("owner_id"))))
)
_EXISTS = DriverStatement(select(TASKS.c.number).where(*_owned_task()))


# SQLite: the owner's next task number, their counter row created at 1 or incremented, and
# read, in one statement; the insert follows. Its row lock is held to the commit: one owner's
# creates take turns, and a create rolled back (quota, failure) gives its number back.
_NEXT_NUMBER = DriverStatement(
    sqlite_insert(COUNTERS)
    .values(owner_id=bindparam(_OWNER), last_number=1)
    .on_conflict_do_update(
        index_elements=[COUNTERS.c.owner_id],
        set_={"last_number": COUNTERS.c.last_number + 1},
    )
    .returning(COUNTERS.c.last_number)
)


def _numbered_create_statement(*, within_quota: bool) -> DriverStatement:
    """PostgreSQL: the owner's counter upserted and the task inserted with its number in one
    statement (a data-modifying CTE; research P34), so a create is one exchange and its COMMIT.
    The CTE runs whether or not the INSERT inserts: a create refused by the quota has still
    taken a number, which its rollback gives back. `within_quota`: nothing inserted once the
    owner holds `p_max_tasks`; `_LOCK_OWNER` must have run first, in a statement of its own
    (a statement's snapshot is taken when it starts, so the count sees the tasks of every
    create that held the lock before; and one lock order everywhere: the owner's lock, then
    the counter row)."""
    counter = (
        postgresql_insert(COUNTERS)
        .values(owner_id=bindparam(_OWNER, type_=String), last_number=1)
        .on_conflict_do_update(
            index_elements=[COUNTERS.c.owner_id],
            set_={"last_number": COUNTERS.c.last_number + 1},
        )
        .returning(COUNTERS.c.last_number)
        .cte("counter")
    )
    task = select(
        bindparam(_OWNER, type_=String),
        counter.c.last_number,
        bindparam("title", type_=String),
        bindparam("description", type_=String),
        bindparam("completed", type_=Boolean),
        bindparam("due_at", type_=UTCDateTime),
        bindparam("priority", type_=PriorityRank),
        bindparam("created_at", type_=UTCDateTime),
        bindparam("updated_at", type_=UTCDateTime),
    ).select_from(counter)
    if within_quota:
        task = task.where(
            select(func.count())
            .select_from(TASKS)
            .where(TASKS.c.owner_id == bindparam(_OWNER))
            .scalar_subquery()
            < bindparam("p_max_tasks")
        )
    return DriverStatement(
        insert(TASKS).from_select(list(_CREATED_COLUMNS), task).returning(*COLUMNS).add_cte(counter)
    )


# PostgreSQL's create, without and within a quota.
_CREATE_NUMBERED = {
    False: _numbered_create_statement(within_quota=False),
    True: _numbered_create_statement(within_quota=True),
}


def _toggle_statement(condition: Condition) -> Update:
    query = update(TASKS).where(*_owned_task())
    if condition != "none":
        query = query.where(_expected_version(condition))
    return query.values(
        completed=not_(TASKS.c.completed),
        updated_at=bindparam(_NOW),
        version=TASKS.c.version + 1,
    ).returning(*COLUMNS)


_TOGGLE = {condition: DriverStatement(_toggle_statement(condition)) for condition in _CONDITIONS}
_DELETE = {
    condition: DriverStatement(
        delete(TASKS)
        .where(*_owned_task(), *([_expected_version(condition)] if condition != "none" else []))
        .returning(TASKS.c.number)
    )
    for condition in _CONDITIONS
}


@cache
def _update_statement(columns: tuple[str, ...], condition: Condition) -> DriverStatement:
    """UPDATE of exactly these columns; at most 93 shapes (subsets of WRITABLE, times the three
    If-Match shapes), each built once, when first used."""
    values: dict[str, Any] = {name: bindparam(f"p_{name}") for name in columns}
    query = update(TASKS).where(*_owned_task())
    if condition != "none":
        query = query.where(_expected_version(condition))
    return DriverStatement(
        query.values(**values, updated_at=bindparam(_NOW), version=TASKS.c.version + 1).returning(
            *COLUMNS
        )
    )


def _condition(versions: Sequence[int] | None) -> tuple[Condition, dict[str, Any]]:
    """The statement shape for these versions and its parameters."""
    if versions is None:
        return "none", {}
    if len(versions) == 1:
        return "one", {_VERSION: versions[0]}
    return "many", {_VERSIONS: list(versions)}


def _written(
    connection: Connection, statement: DriverStatement, condition: Condition, params: dict[str, Any]
) -> Record | None:
    if condition == "many":
        # An expanding IN is rendered anew at each execution: SQLAlchemy's own path (rare: an
        # If-Match with several ETags).
        row = connection.execute(statement.statement, params).first()
        return None if row is None else Record(*row)
    return _first(connection, statement, params)


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A list request's sort, cursor and filters, in the store's terms."""

    sort: Sort
    after: After | None = None
    completed: bool | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    priority: str | None = None
    like: str | None = None
    # PostgreSQL: the pattern was found frequent (a page said so): the LIKE in the sort's order.
    frequent: bool = False


class Page(NamedTuple):
    """A page of a list: its tasks as the API's Task takes them, and whether more follow; then
    `last`, the last task as a Record, is where the next page starts."""

    tasks: list[dict[str, Any]]
    more: bool
    last: Record | None
    # PostgreSQL, nothing read: the pattern is frequent, ask again with `ListQuery.frequent`
    # (in a transaction of its own: this one may have been its single statement's).
    frequent: bool = False


def list_page(connection: Connection, *, owner_id: str, query: ListQuery, limit: int) -> Page:
    """Up to `limit` tasks; one row more is read to tell whether another page exists."""
    rows = _list_rows(connection, owner_id=owner_id, query=query, limit=limit + 1)
    if rows is None:
        return Page([], more=False, last=None, frequent=True)
    dialect = connection.dialect.name
    fields = _page_fields(connection)
    more = len(rows) > limit
    return Page(
        [fields(row) for row in rows[:limit]],
        more,
        _DECODE[dialect](rows[limit - 1]) if more else None,
    )


def list_tasks(
    connection: Connection, *, owner_id: str, query: ListQuery, limit: int
) -> Sequence[Record]:
    decode = _DECODE[connection.dialect.name]
    rows = _list_rows(connection, owner_id=owner_id, query=query, limit=limit)
    if rows is None:
        frequent = replace(query, frequent=True)
        rows = _list_rows(connection, owner_id=owner_id, query=frequent, limit=limit)
        assert rows is not None
    return [decode(row) for row in rows]


def _list_rows(
    connection: Connection, *, owner_id: str, query: ListQuery, limit: int
) -> list[tuple[Any, ...]] | None:
    """The page's rows; None when PostgreSQL's search found its pattern frequent."""
    params: dict[str, Any] = {_OWNER: owner_id, "p_limit": limit}
    optional = {
        "p_completed": query.completed,
        "p_due_before": query.due_before,
        "p_due_after": query.due_after,
        "p_priority": query.priority,
        "p_like": query.like,
    }
    params |= {name: value for name, value in optional.items() if value is not None}
    shape = ListShape(
        query.sort,
        "none",
        query.completed is not None,
        query.due_before is not None,
        query.due_after is not None,
        query.priority is not None,
        query.like is not None,
        texts_index=(
            query.like is not None
            and query.sort.field == "created_at"
            and connection.dialect.name == "sqlite"
        ),
    )
    if query.like is not None:
        shape, params = _searched(connection, shape, params, query)
        if not shape.found and connection.dialect.name == "postgresql":
            _IN_ORDER.run(connection, {})
    after = query.after
    if after is not None:
        shape = shape._replace(after="key")
        params["p_after_id"] = after.id
        if after.key is not None and query.sort.field != "created_at":
            params["p_after_key"] = after.key
    if query.sort.field != "due_at":
        return _found_rows(list_statement(shape).rows(connection, params))
    # Dated tasks first, then (unless a due filter excludes them) those without a due date.
    rows: list[tuple[Any, ...]] = []
    if after is None or after.key is not None:
        dated = _found_rows(list_statement(shape).rows(connection, params))
        if dated is None or len(dated) >= limit:
            return dated
        rows = dated
        if query.due_before is not None or query.due_after is not None:
            return rows
        shape = shape._replace(after="none")
        params.pop("p_after_id", None)
    params.pop("p_after_key", None)
    params["p_limit"] = limit - len(rows)
    undated = _found_rows(list_statement(shape._replace(undated=True)).rows(connection, params))
    return None if undated is None else rows + undated


def _found_rows(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]] | None:
    """None for `_found_statement`'s row of NULLs (a frequent pattern); else the rows."""
    return None if rows and rows[0][0] is None else rows


def _searched(
    connection: Connection, shape: ListShape, params: dict[str, Any], query: ListQuery
) -> tuple[ListShape, dict[str, Any]]:
    """A search's shape: from the trigrams where the pattern has one (research L4, L5)."""
    assert query.like is not None
    needle = like_text(query.like)
    long_enough = len(needle) >= TRIGRAM
    if connection.dialect.name == "postgresql":
        # A pattern too short for a trigram, or found frequent: the LIKE in the sort's order,
        # which stops at a page when matches are frequent (one statement, planned like a list).
        if not long_enough or query.frequent:
            return shape, params
        params |= {"p_needle": needle, "p_found_max": SEARCH_FOUND_MAX}
        return shape._replace(found=True), params
    if not long_enough:
        return shape, params
    # The first of the likely rarest trigrams that the owner holds in few tasks; none: the
    # pattern is frequent, and the LIKE in the sort's order fills a page soon.
    probed = json.dumps(trigrams(needle)[:PROBED])
    picked = PICK.rows(
        connection, {_OWNER: params[_OWNER], "p_trigrams": probed, "p_cap": SEARCH_FOUND_MAX}
    )
    if not picked:
        return shape, params
    params["p_trigram"] = picked[0][0]
    return shape._replace(trigram=True, texts_index=False), params


def get_task(connection: Connection, *, owner_id: str, task_id: int) -> Record | None:
    return _first(connection, _GET, {_OWNER: owner_id, _ID: task_id})


def task_exists(connection: Connection, *, owner_id: str, task_id: int) -> bool:
    """Whether this owner holds this task: after a conditional write that wrote nothing, it
    tells a failed precondition (412) from a missing task (404)."""
    return bool(_EXISTS.rows(connection, {_OWNER: owner_id, _ID: task_id}))


def create_task(
    connection: Connection,
    *,
    owner_id: str,
    title: str,
    description: str | None,
    completed: bool,
    due_at: datetime | None = None,
    priority: str = "normal",
    max_tasks: int | None = None,
) -> Record | None:
    """The new task, or None (nothing written) when the owner already holds `max_tasks`."""
    now = utc_now()
    values: dict[str, Any] = {
        "title": title,
        "description": description,
        "completed": completed,
        "due_at": due_at,
        "priority": priority,
        "created_at": now,
        "updated_at": now,
    }
    if connection.dialect.name == "postgresql":
        values[_OWNER] = owner_id
        if max_tasks is None:
            return _first(connection, _CREATE_NUMBERED[False], values)
        # The owner's lock before the counter row, as on every path that takes both.
        _LOCK_OWNER.run(connection, {"owner_id": owner_id})
        return _first(connection, _CREATE_NUMBERED[True], values | {"p_max_tasks": max_tasks})
    [(number,)] = _NEXT_NUMBER.rows(connection, {_OWNER: owner_id})
    values |= {"owner_id": owner_id, "number": number}
    if max_tasks is None:
        return _first(connection, _CREATE, values)
    return _first(connection, _CREATE_WITHIN_QUOTA, values | {"p_max_tasks": max_tasks})


def update_task(
    connection: Connection,
    *,
    owner_id: str,
    task_id: int,
    changes: dict[str, Any],
    versions: Sequence[int] | None = None,
) -> Record | None:
    """Write only the given columns in one statement: concurrent edits of other fields survive.

    With `versions`, only while the task's version is one of them; None when nothing was written
    (no such task, or another version)."""
    unknown = set(changes) - set(WRITABLE)
    if unknown or not changes:
        raise ValueError(f"not writable columns: {sorted(unknown) or 'none given'}")
    columns = tuple(name for name in WRITABLE if name in changes)
    params = {f"p_{name}": changes[name] for name in columns}
    condition, expected = _condition(versions)
    params |= {_OWNER: owner_id, _ID: task_id, _NOW: utc_now()} | expected
    return _written(connection, _update_statement(columns, condition), condition, params)


def toggle_task(
    connection: Connection, *, owner_id: str, task_id: int, versions: Sequence[int] | None = None
) -> Record | None:
    """Flip in SQL, not read-then-write: two concurrent toggles give two flips."""
    condition, expected = _condition(versions)
    params = {_OWNER: owner_id, _ID: task_id, _NOW: utc_now()} | expected
    return _written(connection, _TOGGLE[condition], condition, params)


def delete_task(
    connection: Connection, *, owner_id: str, task_id: int, versions: Sequence[int] | None = None
) -> bool:
    condition, expected = _condition(versions)
    params = {_OWNER: owner_id, _ID: task_id} | expected
    if condition == "many":
        return connection.execute(_DELETE[condition].statement, params).first() is not None
    return bool(_DELETE[condition].rows(connection, params))
