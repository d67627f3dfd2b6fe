"""The task routes' planned path (tasks/planned.py) answers exactly as FastAPI's own handler, and
only when it can.

Each test app runs on a SQLite file of its own; the routing layer is the same on PostgreSQL
(the rest of the suite runs every task route through the plan on both databases).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import fastapi.routing
import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.routing import APIRoute

from fixtures.api import asgi_client, make_settings, mint, running_app
from todo_api.auth.identity import Identity, path_owner
from todo_api.tasks import routes as task_routes
from todo_api.tasks.planned import PlannedRoute, check_planned_routes
from todo_api.tasks.schemas import TaskList

pytestmark = pytest.mark.anyio

# Minted at import, used minutes later in a long run: valid for an hour, not mint's 5 minutes.
ALICE = {"Authorization": f"Bearer {mint('alice', ttl=3600)}"}
BOB = {"Authorization": f"Bearer {mint('bob', ttl=3600)}"}
JSON = {"Content-Type": "application/json"}
TASK = "/api/alice/tasks/1"
DUE = "2026-12-24T18:00:00Z"

# (method, path, headers, JSON body): well-formed requests and every way a parameter of a planned
# route can be wrong, missing, repeated or unexpected; the body routes (FastAPI's path) too.
REQUESTS: list[tuple[str, str, dict[str, str], Any]] = [
    ("POST", "/api/alice/tasks", ALICE, {"title": "one"}),
    ("POST", "/api/alice/tasks", ALICE, {"title": "two", "description": "d"}),
    ("POST", "/api/alice/tasks", ALICE, {"title": "three", "completed": True}),
    ("POST", "/api/alice/tasks", ALICE, {"title": "four", "due_at": "2026-12-24T18:00:00+02:00"}),
    ("POST", "/api/alice/tasks", ALICE, {"title": "five", "priority": "high"}),
    ("POST", "/api/alice/tasks", ALICE, {"title": "six", "priority": "urgent"}),
    ("POST", "/api/alice/tasks", ALICE, {"title": 5}),
    ("GET", "/api/alice/tasks", ALICE, None),
    ("GET", "/api/alice/tasks?status=pending&limit=1", ALICE, None),
    ("GET", "/api/alice/tasks?status=completed", ALICE, None),
    ("GET", "/api/alice/tasks?limit=2&cursor=3", ALICE, None),
    ("GET", "/api/alice/tasks?cursor=99999999999999999999", ALICE, None),
    ("GET", "/api/alice/tasks?cursor=9999999999999999999", ALICE, None),
    ("GET", "/api/alice/tasks?limit=1&limit=2", ALICE, None),
    ("GET", "/api/alice/tasks?unknown=1", ALICE, None),
    ("GET", "/api/alice/tasks?status=", ALICE, None),
    ("GET", "/api/alice/tasks?status=done", ALICE, None),
    ("GET", "/api/alice/tasks?limit=0", ALICE, None),
    ("GET", "/api/alice/tasks?limit=101&status=x", ALICE, None),
    ("GET", "/api/alice/tasks?limit=abc", ALICE, None),
    ("GET", "/api/alice/tasks?limit=1.5", ALICE, None),
    ("GET", "/api/alice/tasks?cursor=0", ALICE, None),
    ("GET", "/api/alice/tasks?cursor=", ALICE, None),
    ("GET", "/api/alice/tasks?sort=title&limit=1", ALICE, None),
    ("GET", "/api/alice/tasks?sort=-due_at&cursor=dd.n.2", ALICE, None),
    ("GET", "/api/alice/tasks?sort=priority&cursor=pa.1.1&status=pending", ALICE, None),
    ("GET", "/api/alice/tasks?sort=title&cursor=3", ALICE, None),
    ("GET", "/api/alice/tasks?sort=due", ALICE, None),
    ("GET", "/api/alice/tasks?sort=title&sort=-title", ALICE, None),
    ("GET", "/api/alice/tasks?q=ON&priority=normal", ALICE, None),
    ("GET", "/api/alice/tasks?q=%25_", ALICE, None),
    ("GET", "/api/alice/tasks?q=", ALICE, None),
    ("GET", f"/api/alice/tasks?q={'x' * 101}", ALICE, None),
    ("GET", "/api/alice/tasks?priority=urgent", ALICE, None),
    (
        "GET",
        "/api/alice/tasks?due_after=2026-01-01T00:00:00Z&due_before=2999-01-01T00:00:00%2B01:00",
        ALICE,
        None,
    ),
    ("GET", "/api/alice/tasks?due_before=2026-02-30T00:00:00Z", ALICE, None),
    ("GET", "/api/alice/tasks?due_before=2026-01-01", ALICE, None),
    ("GET", "/api/bob/tasks", ALICE, None),
    ("GET", "/api/bob/tasks?limit=0", ALICE, None),
    ("GET", "/api/al%20ice/tasks", ALICE, None),
    ("GET", f"/api/{'a' * 300}/tasks", ALICE, None),
    ("GET", "/api/alice/tasks", {}, None),
    ("GET", TASK, ALICE, None),
    ("GET", TASK, {**ALICE, "If-None-Match": '"1"'}, None),
    ("GET", TASK, {**ALICE, "If-None-Match": 'W/"1", "7"'}, None),
    ("GET", TASK, {**ALICE, "If-None-Match": "*"}, None),
    ("GET", TASK, {**ALICE, "If-None-Match": '"2"'}, None),
    ("GET", TASK, {**ALICE, "If-None-Match": "garbage"}, None),
    ("GET", TASK, {**ALICE, "If-None-Match": "x" * 1001}, None),
    ("GET", TASK, {**ALICE, "If-None-Match": "\x7f"}, None),
    ("GET", "/api/alice/tasks/999", ALICE, None),
    ("GET", "/api/alice/tasks/0", ALICE, None),
    ("GET", "/api/alice/tasks/-1", ALICE, None),
    ("GET", "/api/alice/tasks/abc", ALICE, None),
    ("GET", "/api/alice/tasks/1.0", ALICE, None),
    ("GET", f"/api/alice/tasks/{2**63}", ALICE, None),
    ("GET", f"/api/alice/tasks/{2**63 - 1}", ALICE, None),
    ("GET", "/api/bob/tasks/1", ALICE, None),
    ("GET", "/api/bob/tasks/1", BOB, None),
    ("GET", "/api/bob/tasks/abc", ALICE, None),
    ("PATCH", f"{TASK}/complete", ALICE, None),
    ("PATCH", f"{TASK}/complete", {**ALICE, "If-Match": '"2"'}, None),
    ("PATCH", f"{TASK}/complete", {**ALICE, "If-Match": '"2"'}, None),
    ("PATCH", f"{TASK}/complete", {**ALICE, "If-Match": "*"}, None),
    ("PATCH", f"{TASK}/complete", {**ALICE, "If-Match": "\x01"}, None),
    ("PATCH", "/api/alice/tasks/999/complete", ALICE, None),
    ("PATCH", "/api/alice/tasks/0/complete", ALICE, None),
    ("PATCH", "/api/bob/tasks/1/complete", ALICE, None),
    ("PATCH", TASK, ALICE, {"title": "renamed"}),
    ("PATCH", TASK, ALICE, {"description": None}),
    ("PATCH", TASK, {**ALICE, "If-Match": '"1"'}, {"completed": False}),
    ("PATCH", TASK, ALICE, {}),
    ("PATCH", TASK, ALICE, {"title": "  "}),
    ("PATCH", "/api/alice/tasks/abc", ALICE, {"title": 5}),
    ("PATCH", "/api/bob/tasks/1", ALICE, {"title": "x"}),
    ("PUT", TASK, ALICE, {"title": "t", "description": None, "completed": False}),
    (
        "PUT",
        TASK,
        {**ALICE, "If-Match": "garbage"},
        {"title": "t", "description": "", "completed": True},
    ),
    ("PUT", TASK, ALICE, {"title": "t", "completed": True}),
    ("PUT", "/api/alice/tasks/999", ALICE, {"title": "t", "description": None, "completed": True}),
    ("POST", "/api/alice/tasks", {**ALICE, "Idempotency-Key": "k-1"}, {"title": "keyed"}),
    ("POST", "/api/alice/tasks", {**ALICE, "Idempotency-Key": "k-1"}, {"title": "keyed"}),
    ("POST", "/api/alice/tasks", {**ALICE, "Idempotency-Key": "k-1"}, {"title": "other"}),
    ("POST", "/api/alice/tasks", {**ALICE, "Idempotency-Key": " k"}, {"title": "keyed"}),
    ("POST", "/api/alice/tasks", {**ALICE, "Idempotency-Key": ""}, {"title": "keyed"}),
    ("POST", "/api/alice/tasks", ALICE, {"title": "t", "owner_id": "bob"}),
    ("POST", "/api/alice/tasks", ALICE, [{"title": "t"}]),
    ("POST", "/api/alice/tasks", ALICE, None),
    ("POST", "/api/alice/tasks", {**ALICE, **JSON}, b'{"title": '),
    ("POST", "/api/alice/tasks", {**ALICE, **JSON}, b'{"title": "\xff"}'),
    ("POST", "/api/alice/tasks", {**ALICE, **JSON}, '{"title": "caf\u00e9"}'.encode("latin-1")),
    ("POST", "/api/alice/tasks", {**ALICE, **JSON}, b""),
    ("POST", "/api/alice/tasks", {**ALICE, **JSON}, b"null"),
    ("POST", "/api/alice/tasks", {**ALICE, **JSON}, b'{"title": "a\\u0000b"}'),
    ("POST", "/api/alice/tasks", ALICE, b'{"title": "no content type"}'),
    ("POST", "/api/alice/tasks", {**ALICE, "Content-Type": "text/plain"}, b'{"title": "t"}'),
    (
        "POST",
        "/api/alice/tasks",
        {**ALICE, "Content-Type": "application/json; charset=utf-8"},
        b'{"title": "charset"}',
    ),
    (
        "POST",
        "/api/alice/tasks",
        {**ALICE, "Content-Type": "application/merge-patch+json"},
        b'{"title": "plus"}',
    ),
    (
        "POST",
        "/api/alice/tasks",
        {**ALICE, "Content-Type": "Application/JSON"},
        b'{"title": "case"}',
    ),
    ("POST", "/api/bob/tasks", ALICE, {"title": "not mine"}),
    ("POST", "/api/bob/tasks", ALICE, {"title": 5}),
    ("DELETE", "/api/alice/tasks/2", {**ALICE, "If-Match": '"9"'}, None),
    ("DELETE", "/api/alice/tasks/2", {**ALICE, "If-Match": '"1"'}, None),
    ("DELETE", "/api/alice/tasks/2", ALICE, None),
    ("DELETE", "/api/alice/tasks/abc", ALICE, None),
    ("DELETE", "/api/bob/tasks/2", ALICE, None),
    ("HEAD", "/api/alice/tasks", ALICE, None),
    ("POST", "/api/alice/tasks/1/complete", ALICE, None),
]

# What differs between two runs whatever the code: the request id, timings, clocks.
_TIMESTAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
_VOLATILE = {"x-request-id", "server-timing", "content-length"}


def _comparable(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    if response.request.method != "HEAD":
        length = response.headers.get("content-length", len(response.content))
        assert int(length) == len(response.content)
    headers = [
        (name, re.sub(r";t=\d+", ";t=_", value))
        for name, value in response.headers.multi_items()
        if name not in _VOLATILE
    ]
    return response.status_code, headers, _TIMESTAMP.sub(b"T", response.content)


async def _answers(app: FastAPI) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    answers = []
    async with asgi_client(app) as client:
        for method, path, headers, body in REQUESTS:
            if isinstance(body, bytes):
                response = await client.request(method, path, headers=headers, content=body)
            else:
                response = await client.request(method, path, headers=headers, json=body)
            answers.append(_comparable(response))
    return answers


@pytest.fixture
async def planned_app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    async with running_app(make_settings(tmp_path / "planned")) as app:
        yield app


async def test_planned_routes_answer_byte_for_byte_as_fastapi(
    tmp_path: Path, planned_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        # FastAPI's own handler behind the same request-shape checks (routing.py).
        patch.setattr(PlannedRoute, "unchecked_handler", APIRoute.get_route_handler)
        reference_settings = make_settings(tmp_path / "fastapi")
        async with running_app(reference_settings) as reference_app:
            expected = await _answers(reference_app)
    actual = await _answers(planned_app)
    for request, want, got in zip(REQUESTS, expected, actual, strict=True):
        assert got == want, request
    statuses = {status for status, _, _ in actual}
    assert {200, 201, 204, 304, 401, 403, 404, 405, 412, 422} <= statuses


# Lists whose pages hold every kind of value a Task field takes: nulls and not, unicode and
# escapes, offsets turned to UTC, microseconds and none, a cursor and none.
PAGE_TASKS: list[dict[str, Any]] = [
    {"title": 'caf\u00e9 \u2713 "quoted"\n\\', "description": "line\nnext \u0001 <b>"},
    {"title": "due", "due_at": "2026-12-24T18:00:00+02:00", "priority": "high"},
    {"title": "done", "completed": True, "due_at": "2026-12-24T18:00:00.250Z", "priority": "low"},
    {"title": "\U0001f600 plain", "description": ""},
]
PAGES = [
    "/api/alice/tasks",
    "/api/alice/tasks?limit=2",
    "/api/alice/tasks?sort=due_at&limit=1",
    "/api/alice/tasks?sort=-priority&status=pending",
    "/api/alice/tasks?q=%C3%A9",
    "/api/bob/tasks",
]


async def test_a_page_is_the_json_fastapi_makes_of_its_task_list(planned_app: FastAPI) -> None:
    # The list route sends the service's bytes (schemas.TASK_LIST_JSON), not a model for
    # FastAPI to encode: they must be what FastAPI's own handler makes of the same TaskList.
    async with asgi_client(planned_app) as client:
        for task in PAGE_TASKS:
            assert (await client.post("/api/alice/tasks", headers=ALICE, json=task)).is_success
        pages = [await client.get(path, headers=BOB if "bob" in path else ALICE) for path in PAGES]
    reference = FastAPI()
    sent: list[bytes] = []

    @reference.get("/page", response_model=TaskList)
    async def page() -> Any:
        return TaskList.model_validate_json(sent[-1])

    async with asgi_client(reference) as client:
        for path, response in zip(PAGES, pages, strict=True):
            assert response.status_code == 200, path
            sent.append(response.content)
            expected = await client.get("/page")
            assert response.headers["content-type"] == expected.headers["content-type"], path
            assert response.content == expected.content, path
    assert b'next_cursor":"' in pages[1].content
    assert sum(len(TaskList.model_validate_json(r.content).items) for r in pages) >= 10


def _counting_solver(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    solved: list[str] = []
    solve = fastapi.routing.solve_dependencies

    async def counting(**kwargs: Any) -> Any:
        solved.append(kwargs["request"].url.path)
        return await solve(**kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    return solved


@pytest.mark.parametrize(
    ("method", "path", "body", "planned"),
    [
        ("GET", "/api/alice/tasks?limit=5&status=pending", None, True),
        ("GET", f"/api/alice/tasks?sort=-due_at&q=x&priority=high&due_before={DUE}", None, True),
        ("GET", "/api/alice/tasks?sort=due", None, False),
        ("GET", TASK, None, True),
        ("PATCH", f"{TASK}/complete", None, True),
        ("DELETE", TASK, None, True),
        ("POST", "/api/alice/tasks", {"title": "t"}, False),
        ("PATCH", TASK, {"completed": True}, False),
        ("GET", "/api/alice/tasks?limit=0", None, False),
        ("GET", "/api/alice/tasks/abc", None, False),
        ("POST", "/api/alice/tasks", {"title": ""}, False),
        ("POST", "/api/alice/tasks", b'{"title": "t", "completed": "yes"}', False),
    ],
)
async def test_only_well_formed_requests_skip_fastapis_solver(
    planned_app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    path: str,
    body: Any,
    planned: bool,
) -> None:
    solved = _counting_solver(monkeypatch)
    async with asgi_client(planned_app) as client:
        if isinstance(body, bytes):
            await client.request(method, path, headers={**ALICE, **JSON}, content=body)
        else:
            await client.request(method, path, headers=ALICE, json=body)
    assert (solved == []) is planned, solved


async def test_dependency_overrides_are_honoured(
    planned_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def owner_from_path(user_id: str) -> Identity:
        return Identity(user_id, None, None, None)  # type: ignore[arg-type]

    solved = _counting_solver(monkeypatch)
    planned_app.dependency_overrides[path_owner] = owner_from_path
    async with asgi_client(planned_app) as client:
        response = await client.get("/api/bob/tasks", headers=ALICE)
    assert response.status_code == 200
    assert solved == ["/api/bob/tasks"]


def test_the_reads_and_bodiless_writes_are_planned_the_body_routes_are_not() -> None:
    router = APIRouter()
    task_routes.add_task_routes(router)
    planned = {
        route.name: route.planned for route in router.routes if isinstance(route, PlannedRoute)
    }
    assert planned == {
        "list_tasks": True,
        "get_task": True,
        "toggle_task": True,
        "delete_task": True,
        "create_task": False,
        "replace_task": False,
        "update_task": False,
    }


async def _guard() -> None:
    return None


def _router() -> APIRouter:
    router = APIRouter(route_class=PlannedRoute)

    @router.get("/things")
    async def things(limit: Annotated[int, Query(ge=1)] = 5) -> dict[str, int]:
        return {"limit": limit}

    return router


def test_a_planned_route_included_with_dependencies_is_refused_at_start() -> None:
    app = FastAPI()
    app.include_router(_router())
    check_planned_routes(app.routes)  # nothing added where it was included: planned, accepted
    guarded = FastAPI()
    guarded.include_router(_router(), dependencies=[Depends(_guard)])
    with pytest.raises(RuntimeError, match="included with dependencies"):
        check_planned_routes(guarded.routes)


def test_an_endpoint_without_a_response_model_is_left_to_fastapi() -> None:
    router = APIRouter(route_class=PlannedRoute)

    @router.get("/raw")
    async def raw():  # type: ignore[no-untyped-def]  # no model: FastAPI's encoder answers
        return {"a": 1}

    route = router.routes[0]
    assert isinstance(route, PlannedRoute)
    assert route.planned is False
