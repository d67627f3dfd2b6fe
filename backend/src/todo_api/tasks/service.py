"""Task use cases: turn requests into owner-scoped store calls and store rows into API models."""

from __future__ import annotations

from sqlalchemy import RowMapping
from sqlalchemy.orm import Session

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


def _task(row: RowMapping | None) -> Task:
    if row is None:
        raise _not_found()
    return Task.model_validate(dict(row))


def list_tasks(
    session: Session, owner_id: str, status: TaskStatus, limit: int, cursor: str | None
) -> TaskList:
    before_id = decode_cursor(cursor) if cursor is not None else None
    # One extra row tells whether another page exists without a second query.
    rows = store.list_tasks(
        session,
        owner_id=owner_id,
        completed=_COMPLETED_FILTER[status],
        limit=limit + 1,
        before_id=before_id,
    )
    items = [_task(row) for row in rows[:limit]]
    next_cursor = encode_cursor(items[-1].id) if len(rows) > limit else None
    return TaskList(items=items, next_cursor=next_cursor)


def get_task(session: Session, owner_id: str, task_id: int) -> Task:
    return _task(store.get_task(session, owner_id=owner_id, task_id=task_id))


def create_task(session: Session, owner_id: str, body: TaskCreate) -> Task:
    return _task(
        store.create_task(
            session,
            owner_id=owner_id,
            title=body.title,
            description=body.description,
            completed=body.completed,
        )
    )


def replace_task(session: Session, owner_id: str, task_id: int, body: TaskReplace) -> Task:
    changes = body.model_dump()
    return _task(store.update_task(session, owner_id=owner_id, task_id=task_id, changes=changes))


def patch_task(session: Session, owner_id: str, task_id: int, body: TaskPatch) -> Task:
    changes = body.changes()
    return _task(store.update_task(session, owner_id=owner_id, task_id=task_id, changes=changes))


def toggle_task(session: Session, owner_id: str, task_id: int) -> Task:
    return _task(store.toggle_task(session, owner_id=owner_id, task_id=task_id))


def delete_task(session: Session, owner_id: str, task_id: int) -> None:
    if not store.delete_task(session, owner_id=owner_id, task_id=task_id):
        raise _not_found()
