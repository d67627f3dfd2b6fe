"""Core statements compiled once per dialect and run on the DB-API cursor of a Core connection.

SQLAlchemy's `Connection.execute` does work of its own on every statement beyond the driver's
(compiled-cache lookup, execution context, result object, a type processor per value; research
P19 has the figures). A hot statement pays it on every request: here the statement is compiled
by SQLAlchemy once per dialect, from the store's own Core statement, and each execution only
binds values in the compiled order, runs the cursor and fetches the rows. Errors come back as
SQLAlchemy's exceptions, with a dropped connection invalidated, exactly as `execute` reports
them, so the transaction's 503 mapping holds.

On PostgreSQL a transaction that runs exactly one statement (`transaction(..., single=True)`)
sends the Row-Level Security bind and the statement in one query string, one implicit
transaction: one exchange, whose answer comes after the commit (research P22). Any other
transaction bound to a user opens with one query string too (BEGIN, the bind, its first
statement), runs its other statements in it, and commits in an exchange of its own, sent only
once the caller knows it will answer (research P27).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable

Processor = Callable[[Any], Any]

_NO_DEFAULT = object()

# libpq's PGRES_TUPLES_OK and PQTRANS_IDLE (psycopg's `pq.ExecStatus.TUPLES_OK` and
# `pq.TransactionStatus.IDLE`, pinned by the driver's tests), and psycopg's classes through the
# dialect: psycopg is imported by SQLAlchemy when a PostgreSQL engine is made, not by a server on
# SQLite (research F6).
TUPLES_OK = 2
TRANSACTION_IDLE = 0

# The key in `Connection.info` under which a single-statement transaction waits for its statement.
ONE_EXCHANGE = "todo_api.one_exchange"


class SecondStatement(Exception):
    """A transaction declared single-statement ran another one after its COMMIT: a bug."""


@dataclass(slots=True)
class Exchange:
    """What goes before a transaction's first statement in its first exchange with PostgreSQL
    (the RLS bind, then any statement run only for its effect, e.g. a lock); `sent` once it went.

    Not `opens`: a single-statement transaction, whose exchange ends with its COMMIT, so no
    statement may follow. `opens`: the exchange starts with BEGIN and leaves the transaction
    open for the statements after it and the COMMIT, which the caller sends when it chooses."""

    prelude: list[tuple[DriverStatement, Mapping[str, Any]]]
    opens: bool = field(default=False)
    sent: bool = field(default=False)


class NotDriverReady(Exception):
    """The statement renders something that must be decided per execution (an expanding IN, a
    literal rendered at execution): it has to go through `Connection.execute`."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """One statement as one dialect's driver takes it: SQL text and its parameters in order."""

    sql: str
    names: tuple[str, ...]
    positional: bool
    # Per parameter: SQLAlchemy's bind processor for its type on this dialect (None: as is), and
    # the value the statement itself carries (a literal bound by SQLAlchemy, e.g. `version + 1`).
    processors: tuple[Processor | None, ...]
    defaults: tuple[Any, ...]
    # psycopg's named placeholders as positional ones, one per occurrence, and the name of each:
    # statements joined in one query string take one sequence of values (`_in_one_exchange`).
    client_sql: str = ""
    client_names: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, statement: Executable, dialect: Dialect, column_keys: Sequence[str] | None = None
    ) -> Rendered:
        element = cast(ClauseElement, statement)
        compiled = cast(SQLCompiler, element.compile(dialect=dialect, column_keys=column_keys))
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise NotDriverReady(str(compiled))
        if compiled.escaped_bind_names:
            raise NotDriverReady(str(compiled))
        positional = compiled.positiontup is not None
        if compiled.positiontup is not None:
            names = tuple(compiled.positiontup)
        else:
            names = tuple(dict.fromkeys(compiled.bind_names.values()))
        processors: list[Processor | None] = []
        defaults: list[Any] = []
        for name in names:
            bind = compiled.binds[name]
            processors.append(bind.type.dialect_impl(dialect).bind_processor(dialect))
            defaults.append(_NO_DEFAULT if bind.required else bind.effective_value)
        sql = str(compiled)
        client_sql, client_names = sql, ()
        if not positional and dialect.paramstyle == "pyformat":
            client_names = tuple(name for name in _PLACEHOLDER.findall(sql) if name)
            client_sql = _PLACEHOLDER.sub(_positional, sql)
        return cls(
            sql, names, positional, tuple(processors), tuple(defaults), client_sql, client_names
        )

    def values(self, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        """The parameters for the driver, processed as `Connection.execute` would."""
        out: list[Any] = []
        for name, processor, default in zip(
            self.names, self.processors, self.defaults, strict=True
        ):
            value = params[name] if default is _NO_DEFAULT else params.get(name, default)
            out.append(value if processor is None else processor(value))
        if self.positional:
            return tuple(out)
        return dict(zip(self.names, out, strict=True))

    def client_values(self, values: Sequence[Any] | dict[str, Any]) -> list[Any]:
        """`values` (as `values` gives them) in the order of `client_sql`'s placeholders."""
        assert isinstance(values, dict)
        return [values[name] for name in self.client_names]


# A pyformat placeholder, or an escaped percent sign (kept as it is).
_PLACEHOLDER = re.compile(r"%%|%\(([^)]*)\)s")


def _positional(match: re.Match[str]) -> str:
    return "%%" if match.group(0) == "%%" else "%s"


class DriverStatement:
    """A Core statement run through the driver: rendered on first use with each dialect."""

    __slots__ = ("_rendered", "column_keys", "statement")

    def __init__(self, statement: Executable, column_keys: Sequence[str] | None = None) -> None:
        """`column_keys`: the columns an INSERT without its own VALUES is given (as the keys of
        the parameters `Connection.execute` would get)."""
        self.statement = statement
        self.column_keys = None if column_keys is None else list(column_keys)
        # (dialect, its rendering), replaced as one object: threads may race to fill it, and any
        # of them fills it with the same thing.
        self._rendered: tuple[Dialect, Rendered] | None = None

    def rendered(self, dialect: Dialect) -> Rendered:
        cached = self._rendered
        if cached is None or cached[0] is not dialect:
            cached = (dialect, Rendered.of(self.statement, dialect, self.column_keys))
            self._rendered = cached
        return cached[1]

    def run(self, connection: Connection, params: Mapping[str, Any]) -> None:
        """Execute for its effect only (a lock): in a single-statement transaction it goes in
        the exchange, before the statement whose rows are read."""
        exchange = connection.info.get(ONE_EXCHANGE)
        if exchange is not None and not exchange.sent:
            exchange.prelude.append((self, params))
        else:
            self.rows(connection, params)

    def rows(self, connection: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute in the connection's transaction; every row the statement returns, as the
        driver gives them (the caller converts types)."""
        dialect = connection.dialect
        rendered = self.rendered(dialect)
        values = rendered.values(params)
        exchange = connection.info.get(ONE_EXCHANGE)
        if exchange is not None:
            return _in_one_exchange(connection, exchange, rendered, values)
        dbapi_connection = connection.connection.dbapi_connection
        assert dbapi_connection is not None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(rendered.sql, values)
            if dialect.name == "postgresql":
                return _fetched(cursor)
            if cursor.description is None:  # a write without RETURNING
                return []
            return cast(list[tuple[Any, ...]], cursor.fetchall())
        except dialect.loaded_dbapi.Error as exc:
            raise _wrapped(connection, rendered.sql, values, exc, dbapi_connection, cursor) from exc
        finally:
            cursor.close()


def prelude_before_execute(connection: Connection, *_: Any) -> None:
    """`before_execute` and `before_cursor_execute` on a PostgreSQL engine: a statement that goes
    through `Connection.execute` or `exec_driver_sql` before a transaction's first exchange (one
    the store does not run on the driver, or a test's) is no longer the exchange's: the prelude
    (the RLS bind) runs first, on its own, in the transaction psycopg begins, which commits at its
    end as any other. Never after a single-statement transaction's COMMIT."""
    exchange = connection.info.get(ONE_EXCHANGE)
    if exchange is None:
        return
    if exchange.sent:
        raise SecondStatement("a single-statement transaction ran a second statement")
    del connection.info[ONE_EXCHANGE]
    for statement, params in exchange.prelude:
        statement.rows(connection, params)


def _in_one_exchange(
    connection: Connection, exchange: Exchange, rendered: Rendered, values: Any
) -> list[tuple[Any, ...]]:
    """The prelude and the statement as one query string, sent in autocommit: PostgreSQL runs a
    string of several statements as one implicit transaction, committed when the last one ends,
    and answers once. An error of any of them, or of the commit (a deferred constraint, a
    serialization failure), is raised before a row is returned: the caller never answers for a
    write that did not commit.

    An exchange that `opens` starts the string with BEGIN: the transaction block outlives the
    string, the next statements run in it (psycopg, still in autocommit, sends no BEGIN of its
    own), and psycopg's `commit()` or `rollback()` ends it, since it asks the server whether a
    transaction is open. `transaction` turns autocommit off again after that, before the
    connection goes back to the pool.

    The values are bound by psycopg on the client (`ClientCursor`: quoted as literals for this
    connection's encoding), since the protocol takes bound parameters for one statement at a
    time: the statements' placeholders made positional once (`Rendered.client_sql`) and the
    string and its values given to one `execute`, whose parse of the string psycopg caches
    (research P36). Nothing is prepared, nothing outlives the transaction."""
    if exchange.sent:
        raise SecondStatement("a single-statement transaction ran a second statement")
    exchange.sent = True
    if exchange.opens:
        # Whatever follows runs in the transaction this exchange opens, on the driver's path.
        del connection.info[ONE_EXCHANGE]
    dialect = connection.dialect
    driver = connection.connection.driver_connection
    assert driver is not None
    cursor = dialect.loaded_dbapi.ClientCursor(driver)
    try:
        parts = ["BEGIN"] if exchange.opens else []
        merged: list[Any] = []
        for statement, params in exchange.prelude:
            before = statement.rendered(dialect)
            parts.append(before.client_sql)
            merged.extend(before.client_values(before.values(params)))
        parts.append(rendered.client_sql)
        merged.extend(rendered.client_values(values))
        driver.autocommit = True
        if exchange.opens:
            cursor.execute(";\n".join(parts), merged, prepare=False)
        else:
            try:
                cursor.execute(";\n".join(parts), merged, prepare=False)
            finally:
                if not driver.closed:
                    driver.autocommit = False
        while cursor.nextset():
            pass  # to the statement's result, the last one
        return _fetched(cursor)
    except dialect.loaded_dbapi.Error as exc:
        raise _wrapped(connection, rendered.sql, values, exc, driver, cursor) from exc
    finally:
        cursor.close()


def _fetched(cursor: Any) -> list[tuple[Any, ...]]:
    """The rows of psycopg's current result; none for a statement that returns no rows (a write
    without RETURNING). Told by the result's status: `description` would first build a Column
    object per column, on every statement (research P36)."""
    result = cursor.pgresult
    if result is None or result.status != TUPLES_OK:
        return []
    return cast(list[tuple[Any, ...]], cursor.fetchall())


def _wrapped(
    connection: Connection,
    sql: str,
    values: Any,
    exc: Any,
    dbapi_connection: Any,
    cursor: Any,
) -> DBAPIError:
    """The driver's error as `Connection.execute` raises it: SQLAlchemy's class of the same name
    (OperationalError, IntegrityError ...), the connection invalidated when it was lost."""
    dialect = connection.dialect
    lost = dialect.is_disconnect(exc, dbapi_connection, cursor)
    if lost:
        connection.invalidate(exc)
    error = DBAPIError.instance(
        sql,
        values,
        exc,
        dialect.loaded_dbapi.Error,
        hide_parameters=True,
        connection_invalidated=lost,
        dialect=dialect,
    )
    assert isinstance(error, DBAPIError)
    return error
