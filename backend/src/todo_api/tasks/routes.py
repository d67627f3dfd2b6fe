"""HTTP routes for tasks. Thin: parse, call the service, shape the reply."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import Engine

from todo_api import db
from todo_api.auth.identity import Owner
from todo_api.tasks import service
from todo_api.tasks.schemas import (
    CURSOR_PATTERN,
    MAX_TASK_ID,
    Task,
    TaskCreate,
    TaskList,
    TaskPatch,
    TaskReplace,
    TaskStatus,
)

transaction = contextmanager(db.transaction)


async def _engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


# Each handler opens, uses and commits its transaction inside its own body: one thread-pool hop
# per request, and the commit happens before the response is sent (no 2xx for a write that then
# failed to commit). A yield dependency would cost two more hops, and hold SQLite's write lock
# across them: under 100 connections writers queued behind it until the pool timed out.
Database = Annotated[Engine, Depends(_engine)]
TaskId = Annotated[int, Path(ge=1, le=MAX_TASK_ID, description="The task's id.")]
StatusQuery = Annotated[TaskStatus, Query(description="Filter by completion.")]
LimitQuery = Annotated[int, Query(ge=1, le=100, description="Page size.")]
CursorQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=19,
        pattern=CURSOR_PATTERN,
        description="Opaque `next_cursor` of the previous page.",
    ),
]

router = APIRouter(prefix="/api")


@router.get("/{user_id}/tasks", operation_id="listTasks")
def list_tasks(
    owner: Owner,
    database: Database,
    status: StatusQuery = "all",
    limit: LimitQuery = 20,
    cursor: CursorQuery = None,
) -> TaskList:
    with transaction(database, owner.user_id) as connection:
        return service.list_tasks(connection, owner.user_id, status, limit, cursor)


@router.post("/{user_id}/tasks", status_code=201, operation_id="createTask")
def create_task(
    owner: Owner, database: Database, body: TaskCreate, request: Request, response: Response
) -> Task:
    with transaction(database, owner.user_id) as connection:
        task = service.create_task(connection, owner.user_id, body)
    root = request.scope.get("root_path", "")
    response.headers["Location"] = f"{root}/api/{owner.user_id}/tasks/{task.id}"
    return task


@router.get("/{user_id}/tasks/{task_id}", operation_id="getTask")
def get_task(owner: Owner, database: Database, task_id: TaskId) -> Task:
    with transaction(database, owner.user_id) as connection:
        return service.get_task(connection, owner.user_id, task_id)


@router.put("/{user_id}/tasks/{task_id}", operation_id="replaceTask")
def replace_task(owner: Owner, database: Database, task_id: TaskId, body: TaskReplace) -> Task:
    with transaction(database, owner.user_id) as connection:
        return service.replace_task(connection, owner.user_id, task_id, body)


@router.patch("/{user_id}/tasks/{task_id}", operation_id="updateTask")
def update_task(owner: Owner, database: Database, task_id: TaskId, body: TaskPatch) -> Task:
    with transaction(database, owner.user_id) as connection:
        return service.patch_task(connection, owner.user_id, task_id, body)


@router.delete("/{user_id}/tasks/{task_id}", status_code=204, operation_id="deleteTask")
def delete_task(owner: Owner, database: Database, task_id: TaskId) -> Response:
    with transaction(database, owner.user_id) as connection:
        service.delete_task(connection, owner.user_id, task_id)
    return Response(status_code=204)


@router.patch("/{user_id}/tasks/{task_id}/complete", operation_id="toggleTaskCompletion")
def toggle_task(owner: Owner, database: Database, task_id: TaskId) -> Task:
    with transaction(database, owner.user_id) as connection:
        return service.toggle_task(connection, owner.user_id, task_id)
