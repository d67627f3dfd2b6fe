"""HTTP routes for tasks. Thin: parse, call the service, shape the reply."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from todo_api.auth.identity import Owner
from todo_api.state import app_state
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


async def _tasks(request: Request) -> service.Tasks:
    # Not through the `State` dependency: one dependency per request instead of two.
    return app_state(request.app).tasks


# Each handler is `async def` and awaits one service call, which is one whole transaction (open,
# use, commit) on a database thread: the commit happens before the response is sent (no 2xx for a
# write that then failed to commit), and the event loop never waits on the driver. A yield
# dependency holding a transaction would keep SQLite's write lock across hops: under 100
# connections writers queued behind it until the pool timed out (research.md, "One thread-pool
# hop per request" and "`async def` task handlers").
Tasks = Annotated[service.Tasks, Depends(_tasks)]
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
async def list_tasks(
    owner: Owner,
    tasks: Tasks,
    status: StatusQuery = "all",
    limit: LimitQuery = 20,
    cursor: CursorQuery = None,
) -> TaskList:
    return await tasks.list_tasks(owner.user_id, status, limit, cursor)


@router.post("/{user_id}/tasks", status_code=201, operation_id="createTask")
async def create_task(
    owner: Owner, tasks: Tasks, body: TaskCreate, request: Request, response: Response
) -> Task:
    task = await tasks.create_task(owner.user_id, body)
    root = request.scope.get("root_path", "")
    response.headers["Location"] = f"{root}/api/{owner.user_id}/tasks/{task.id}"
    return task


@router.get("/{user_id}/tasks/{task_id}", operation_id="getTask")
async def get_task(owner: Owner, tasks: Tasks, task_id: TaskId) -> Task:
    return await tasks.get_task(owner.user_id, task_id)


@router.put("/{user_id}/tasks/{task_id}", operation_id="replaceTask")
async def replace_task(owner: Owner, tasks: Tasks, task_id: TaskId, body: TaskReplace) -> Task:
    return await tasks.replace_task(owner.user_id, task_id, body)


@router.patch("/{user_id}/tasks/{task_id}", operation_id="updateTask")
async def update_task(owner: Owner, tasks: Tasks, task_id: TaskId, body: TaskPatch) -> Task:
    return await tasks.patch_task(owner.user_id, task_id, body)


@router.delete("/{user_id}/tasks/{task_id}", status_code=204, operation_id="deleteTask")
async def delete_task(owner: Owner, tasks: Tasks, task_id: TaskId) -> Response:
    await tasks.delete_task(owner.user_id, task_id)
    return Response(status_code=204)


@router.patch("/{user_id}/tasks/{task_id}/complete", operation_id="toggleTaskCompletion")
async def toggle_task(owner: Owner, tasks: Tasks, task_id: TaskId) -> Task:
    return await tasks.toggle_task(owner.user_id, task_id)
