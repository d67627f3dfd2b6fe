"""The store with its owner filter taken out, as the tests that prove the other walls need it.

A list's rows come from `store._list_rows`, as the database driver gives them (the page and the
record decoders convert them), in the transaction's one exchange where there is one (the RLS bind
and the statement sent together on PostgreSQL): a stand-in goes the same way, a DriverStatement."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from todo_api.db.driver import DriverStatement
from todo_api.tasks import store

_UNSCOPED = DriverStatement(
    select(*store.COLUMNS).order_by(store.TASKS.c.number.desc()).limit(bindparam("p_limit"))
)


def unscoped_rows(connection: Connection, *, limit: int, **_: Any) -> list[tuple[Any, ...]]:
    """Every owner's newest tasks, as `store._list_rows` would return one owner's."""
    return _UNSCOPED.rows(connection, {"p_limit": limit})
