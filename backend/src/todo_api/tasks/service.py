"""Task use cases: each one transaction bound to its owner, turning requests into owner-scoped
store calls and store rows into API models."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Connection

from todo_api.db import Database
from todo_api.errors import NotFound, PreconditionFailed, PreconditionRequired, QuotaExceeded
from todo_api.tasks import store
from todo_api.tasks.preconditions import Condition
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


def _written(
    connection: Connection, owner_id: str, task_id: int, versions: list[int] | None, wrote: bool
) -> None:
    """Raise for a write that wrote nothing: 412 when the task is there (at another version),
    404 when this owner holds no such task, whatever the precondition said."""
    if wrote:
        return
    if versions is not None and store.task_exists(connection, owner_id=owner_id, task_id=task_id):
        raise PreconditionFailed("The task has changed since that ETag: read it again")
    raise _not_found()


class Tasks:
    """The task use cases over one database.

    Each method is one transaction, bound to the owner (Row-Level Security on PostgreSQL) and run
    whole on a database thread, validation of the rows included; it has committed when the method
    returns. Routes await these methods and know nothing of connections.
    """

    def __init__(
        self,
        database: Database,
        *,
        max_tasks_per_user: int | None = None,
        require_if_match: bool = False,
    ) -> None:
        self._database = database
        self._max_tasks = max_tasks_per_user
        self._require_if_match = require_if_match

    def _versions(self, if_match: Condition | None) -> list[int] | None:
        """The versions a write may find (None: any). No If-Match is refused under
        REQUIRE_IF_MATCH; `*` matches any existing task, which the plain write already needs."""
        if if_match is None:
            if self._require_if_match:
                raise PreconditionRequired("Send If-Match with the task's ETag")
            return None
        return None if if_match.any else sorted(if_match.strong)

    async def list_tasks(
        self, owner_id: str, status: TaskStatus, limit: int, cursor: str | None
    ) -> TaskList:
        before_id = decode_cursor(cursor) if cursor is not None else None
        completed = _COMPLETED_FILTER[status]

        def work(connection: Connection) -> TaskList:
            # One extra row tells whether another page exists without a second query.
            rows = store.list_tasks(
                connection,
                owner_id=owner_id,
                completed=completed,
                limit=limit + 1,
                before_id=before_id,
            )
            items = _TASKS.validate_python([_fields(row) for row in rows[:limit]])
            next_cursor = encode_cursor(items[-1].id) if len(rows) > limit else None
            return TaskList(items=items, next_cursor=next_cursor)

        return await self._database.run(owner_id, work)

    async def get_task(self, owner_id: str, task_id: int) -> Task:
        # If-None-Match is judged by the route on the task read here: reading is all it needs.
        def work(connection: Connection) -> Task:
            return _task(store.get_task(connection, owner_id=owner_id, task_id=task_id))

        return await self._database.run(owner_id, work)

    async def create_task(self, owner_id: str, body: TaskCreate) -> Task:
        def work(connection: Connection) -> Task:
            row = store.create_task(
                connection,
                owner_id=owner_id,
                title=body.title,
                description=body.description,
                completed=body.completed,
                max_tasks=self._max_tasks,
            )
            if row is None:
                raise QuotaExceeded(
                    f"You already hold the maximum of {self._max_tasks} tasks: delete some first"
                )
            return _task(row)

        return await self._database.write(owner_id, work)

    async def replace_task(
        self, owner_id: str, task_id: int, body: TaskReplace, if_match: Condition | None = None
    ) -> Task:
        return await self._update(owner_id, task_id, body.model_dump(), if_match)

    async def patch_task(
        self, owner_id: str, task_id: int, body: TaskPatch, if_match: Condition | None = None
    ) -> Task:
        return await self._update(owner_id, task_id, body.changes(), if_match)

    async def _update(
        self, owner_id: str, task_id: int, changes: dict[str, Any], if_match: Condition | None
    ) -> Task:
        versions = self._versions(if_match)

        def work(connection: Connection) -> Task:
            row = store.update_task(
                connection, owner_id=owner_id, task_id=task_id, changes=changes, versions=versions
            )
            _written(connection, owner_id, task_id, versions, row is not None)
            return _task(row)

        return await self._database.write(owner_id, work)

    async def toggle_task(
        self, owner_id: str, task_id: int, if_match: Condition | None = None
    ) -> Task:
        versions = self._versions(if_match)

        def work(connection: Connection) -> Task:
            row = store.toggle_task(
                connection, owner_id=owner_id, task_id=task_id, versions=versions
            )
            _written(connection, owner_id, task_id, versions, row is not None)
            return _task(row)

        return await self._database.write(owner_id, work)

    async def delete_task(
        self, owner_id: str, task_id: int, if_match: Condition | None = None
    ) -> None:
        versions = self._versions(if_match)

        def work(connection: Connection) -> None:
            deleted = store.delete_task(
                connection, owner_id=owner_id, task_id=task_id, versions=versions
            )
            _written(connection, owner_id, task_id, versions, deleted)

        await self._database.write(owner_id, work)
