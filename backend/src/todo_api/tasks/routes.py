"""HTTP routes for tasks. Thin: parse, call the service, shape the reply."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from todo_api.auth.identity import Owner
from todo_api.state import app_state
from todo_api.tasks import service
from todo_api.tasks.idempotency import KEY_MAX
from todo_api.tasks.listing import CURSOR_MAX, CURSOR_PATTERN, DEFAULT_SORT, Q_MAX, SortName
from todo_api.tasks.planned import PlannedRoute
from todo_api.tasks.preconditions import Condition, etag, parse
from todo_api.tasks.schemas import (
    DUE_AT_PATTERN,
    MAX_TASK_ID,
    Priority,
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
        max_length=CURSOR_MAX,
        pattern=CURSOR_PATTERN,
        description="Opaque `next_cursor` of the previous page, with the same `sort`.",
    ),
]
SortQuery = Annotated[SortName, Query(description="Order of the list (docs/lists.md).")]
DueQuery = Annotated[
    str | None, Query(max_length=40, pattern=DUE_AT_PATTERN, description="RFC 3339 date-time.")
]
PriorityQuery = Annotated[Priority | None, Query(description="Only tasks of this priority.")]
SearchQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=Q_MAX,
        pattern=r"^[^\u0000]*$",
        description="Case-insensitive text in the title or description.",
    ),
]

# Conditional requests (RFC 9110 §13). Bounded like every other input; what they hold is judged
# by tasks/preconditions.py, and a value that does not parse matches nothing.
_VISIBLE_ASCII = r"^[\x20-\x7e\t]*$"
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=1000,
        pattern=_VISIBLE_ASCII,
        description="Write only if the task's ETag is one of these (or `*`); else 412.",
    ),
]
IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        max_length=1000,
        pattern=_VISIBLE_ASCII,
        description="304 without a body if the task's ETag is one of these (or `*`).",
    ),
]

# Idempotent create (IETF httpapi draft "The Idempotency-Key HTTP Header Field"): printable
# ASCII, spaces inside only, as HTTP trims a field value's ends anyway.
KEY_PATTERN = r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$"
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=KEY_MAX,
        pattern=KEY_PATTERN,
        description="At most one task per key and body: a retry gets the first answer again.",
    ),
]


def _condition(value: str | None) -> Condition | None:
    return None if value is None else parse(value)


def _tagged(response: Response, task: Task) -> Task:
    response.headers["ETag"] = etag(task.version)
    return task


async def list_tasks(
    owner: Owner,
    tasks: Tasks,
    status: StatusQuery = "all",
    limit: LimitQuery = 20,
    cursor: CursorQuery = None,
    sort: SortQuery = DEFAULT_SORT,
    due_before: DueQuery = None,
    due_after: DueQuery = None,
    priority: PriorityQuery = None,
    q: SearchQuery = None,
) -> Response:
    # The page comes as the JSON of a TaskList, already validated: nothing left to encode here.
    page = await tasks.list_tasks(
        owner.user_id,
        status,
        limit,
        cursor,
        sort=sort,
        due_before=due_before,
        due_after=due_after,
        priority=priority,
        q=q,
    )
    return Response(page, media_type="application/json")


async def create_task(
    owner: Owner,
    tasks: Tasks,
    body: TaskCreate,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Task:
    created = await tasks.create_task(owner.user_id, body, idempotency_key)
    task = created.task
    root = request.scope.get("root_path", "")
    response.status_code = created.status
    response.headers["Location"] = f"{root}/api/{owner.user_id}/tasks/{task.id}"
    if created.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return _tagged(response, task)


async def get_task(
    owner: Owner,
    tasks: Tasks,
    task_id: TaskId,
    response: Response,
    if_none_match: IfNoneMatch = None,
) -> Task | Response:
    # A missing task stays the 404 whatever If-None-Match says (no ETag oracle across users).
    task = await tasks.get_task(owner.user_id, task_id)
    condition = _condition(if_none_match)
    if condition is not None and condition.matches_weakly(task.version):
        return Response(status_code=304, headers={"ETag": etag(task.version)})
    return _tagged(response, task)


async def replace_task(
    owner: Owner,
    tasks: Tasks,
    task_id: TaskId,
    body: TaskReplace,
    response: Response,
    if_match: IfMatch = None,
) -> Task:
    task = await tasks.replace_task(owner.user_id, task_id, body, _condition(if_match))
    return _tagged(response, task)


async def update_task(
    owner: Owner,
    tasks: Tasks,
    task_id: TaskId,
    body: TaskPatch,
    response: Response,
    if_match: IfMatch = None,
) -> Task:
    task = await tasks.patch_task(owner.user_id, task_id, body, _condition(if_match))
    return _tagged(response, task)


async def delete_task(
    owner: Owner, tasks: Tasks, task_id: TaskId, if_match: IfMatch = None
) -> Response:
    await tasks.delete_task(owner.user_id, task_id, _condition(if_match))
    return Response(status_code=204)


async def toggle_task(
    owner: Owner, tasks: Tasks, task_id: TaskId, response: Response, if_match: IfMatch = None
) -> Task:
    task = await tasks.toggle_task(owner.user_id, task_id, _condition(if_match))
    return _tagged(response, task)


def add_task_routes(router: APIRouter) -> None:
    """The seven task operations on `router`: the app's own (main.py), not a router of their own
    included in it. FastAPI matches an included router's routes through route contexts it looks
    up for every request, twice (once to match, once to handle); the app's own routes are matched
    once, as Starlette does (research P30). `add_api_route` is what the decorators call."""
    add = partial(router.add_api_route, route_class_override=PlannedRoute)
    add(
        "/api/{user_id}/tasks",
        list_tasks,
        methods=["GET"],
        operation_id="listTasks",
        response_model=TaskList,
    )
    add(
        "/api/{user_id}/tasks",
        create_task,
        methods=["POST"],
        status_code=201,
        operation_id="createTask",
    )
    add(
        "/api/{user_id}/tasks/{task_id}",
        get_task,
        methods=["GET"],
        operation_id="getTask",
        response_model=Task,
    )
    add("/api/{user_id}/tasks/{task_id}", replace_task, methods=["PUT"], operation_id="replaceTask")
    add("/api/{user_id}/tasks/{task_id}", update_task, methods=["PATCH"], operation_id="updateTask")
    add(
        "/api/{user_id}/tasks/{task_id}",
        delete_task,
        methods=["DELETE"],
        status_code=204,
        operation_id="deleteTask",
    )
    add(
        "/api/{user_id}/tasks/{task_id}/complete",
        toggle_task,
        methods=["PATCH"],
        operation_id="toggleTaskCompletion",
    )
