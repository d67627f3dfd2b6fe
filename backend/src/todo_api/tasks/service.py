"""Task use cases: turn requests into owner-scoped store calls and store rows into API models."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Connection

from todo_api.errors import NotFound
from todo_api.tasks import store
from todo_api.tasks.schemas import (
    Task,
    TaskCreate,
    TaskList,
    TaskPatch,
    TaskReplace,
    TaskStatus,
    decode_cursor,
    encode_cursor,
)

_COMPLETED_FILTER: dict[str, bool | None] = {"all": None, "pending": False, "completed": True}


def _not_found() -> NotFound:
    # 404, not 403: a missing task and another user's task must be indistinguishable.
    return NotFound("Task not found")


def _fields(row: store.Record) -> dict[str, Any]:
    return dict(zip(store.FIELDS, row, strict=True))


# One validation call for a whole page: a third of the cost of one Task.model_validate per row.
_TASKS = TypeAdapter(list[Task])


def _task(row: store.Record | None) -> Task:
    if row is None:
        raise _not_found()
    return Task.model_validate(_fields(row))


def list_tasks(
    connection: Connection, owner_id: str, status: TaskStatus, limit: int, cursor: str | None
) -> TaskList:
    before_id = decode_cursor(cursor) if cursor is not None else None
    # One extra row tells whether another page exists without a second query.
    rows = store.list_tasks(
        connection,
        owner_id=owner_id,
        completed=_COMPLETED_FILTER[status],
        limit=limit + 1,
        before_id=before_id,
    )
    items = _TASKS.validate_python([_fields(row) for row in rows[:limit]])
    next_cursor = encode_cursor(items[-1].id) if len(rows) > limit else None
    return TaskList(items=items, next_cursor=next_cursor)


def get_task(connection: Connection, owner_id: str, task_id: int) -> Task:
    return _task(store.get_task(connection, owner_id=owner_id, task_id=task_id))


def create_task(connection: Connection, owner_id: str, body: TaskCreate) -> Task:
    return _task(
        store.create_task(
            connection,
            owner_id=owner_id,
            title=body.title,
            description=body.description,
            completed=body.completed,
        )
    )


def replace_task(connection: Connection, owner_id: str, task_id: int, body: TaskReplace) -> Task:
    changes = body.model_dump()
    return _task(store.update_task(connection, owner_id=owner_id, task_id=task_id, changes=changes))


def patch_task(connection: Connection, owner_id: str, task_id: int, body: TaskPatch) -> Task:
    changes = body.changes()
    return _task(store.update_task(connection, owner_id=owner_id, task_id=task_id, changes=changes))


def toggle_task(connection: Connection, owner_id: str, task_id: int) -> Task:
    return _task(store.toggle_task(connection, owner_id=owner_id, task_id=task_id))


def delete_task(connection: Connection, owner_id: str, task_id: int) -> None:
    if not store.delete_task(connection, owner_id=owner_id, task_id=task_id):
        raise _not_found()
