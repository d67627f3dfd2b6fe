"""The contract suite bites: each security check, the parity test and the abuse-limit probes fail
on a deliberately broken variant of the app. (If one of these passes, the check it exercises has
gone blind.)"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
from fastapi import FastAPI
from schemathesis.core.failures import FailureGroup
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from starlette.types import Message, Receive, Scope, Send

import st_hooks
from fixtures.api import User, asgi_client, make_settings, mint
from fixtures.limit_probes import (
    budget_findings,
    count_signature_checks,
    quota_findings,
    throttle_findings,
)
from fixtures.store_breaks import unscoped_rows
from fixtures.write_probes import duplicate_create_findings, lost_update_findings
from parity import operation_differences
from st_hooks import FUZZ_SETTINGS
from st_limits import FUZZ_LIMITS
from st_schema import load_schema
from todo_api.auth.identity import Identity, path_owner
from todo_api.auth.middleware import AuthMiddleware
from todo_api.db import utc_now
from todo_api.db.lifecycle import upgrade
from todo_api.errors import PreconditionFailed
from todo_api.main import create_app
from todo_api.middleware.body_limit import BodyLimitMiddleware
from todo_api.middleware.cors import ProblemCORSMiddleware
from todo_api.ratelimit import middleware as ratelimit_middleware
from todo_api.ratelimit.limiter import Limiter
from todo_api.ratelimit.policy import Policy, Usage
from todo_api.state import app_state
from todo_api.tasks import idempotency, service, store
from todo_api.tasks.schemas import Task
from todo_api.tasks.service import Created, Tasks, _request_hash

Break = Callable[[FastAPI, pytest.MonkeyPatch], None]
_CREATE = ("POST", "/api/{user_id}/tasks")


def _list_without_owner_filter(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every list reads its rows there (the page and the due-date sort's two scans alike).
    monkeypatch.setattr(store, "_list_rows", unscoped_rows)


def _sorted_list_without_owner_filter(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    # The default list stays scoped: only a read-back through a sorted view can see the leak.
    scoped = store._list_rows

    def list_rows(connection: Any, *, owner_id: str, query: Any, limit: int) -> Any:
        if query.sort.is_default:
            return scoped(connection, owner_id=owner_id, query=query, limit=limit)
        return unscoped_rows(connection, limit=limit)

    monkeypatch.setattr(store, "_list_rows", list_rows)


def _get_by_id_alone(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    def get_task(connection: Any, *, owner_id: str, task_id: int) -> Any:
        by_number = store.TASKS.c.number == task_id  # the task's id, without its owner
        return connection.execute(select(*store.COLUMNS).where(by_number)).first()

    monkeypatch.setattr(store, "get_task", get_task)


def _accepts_expired_tokens(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    for middleware in app.user_middleware:
        if middleware.cls is AuthMiddleware:
            verifier = middleware.kwargs["verifier"]
            # Under the token cache (which never caches past exp), the verifier itself.
            getattr(verifier, "inner", verifier)._jwt.options["verify_exp"] = False


def _trusts_the_path_user_id(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    def owner_from_path(user_id: str) -> Identity:
        return Identity(user_id, None, None, None)  # type: ignore[arg-type]

    app.dependency_overrides[path_owner] = owner_from_path


def _leaks_an_undocumented_field(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    inner = app.build_middleware_stack

    def with_extra_field() -> Any:
        wrapped = inner()

        async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
            async def send_patched(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [
                        (k, v) for k, v in message["headers"] if k != b"content-length"
                    ]
                elif message["type"] == "http.response.body" and message.get(
                    "body", b""
                ).startswith(b'{"id":'):
                    message["body"] = b'{"owner_id":"x",' + message["body"][1:]
                await send(message)

            await wrapped(scope, receive, send_patched)

        return asgi

    monkeypatch.setattr(app, "build_middleware_stack", with_extra_field)


@pytest.fixture
def broken_app(tmp_path: Path) -> FastAPI:
    app = create_app(make_settings(tmp_path, **FUZZ_LIMITS, **FUZZ_SETTINGS))
    upgrade(app_state(app).database.engine)
    return app


def _run(app: FastAPI, method: str, path: str, user: str = "alice", **params: Any) -> str:
    """Send one well-formed request through Schemathesis with every check on; the failures found."""
    schema = load_schema(app)
    case = schema[path][method].Case(
        path_parameters={"user_id": user, **params},
        headers={"Authorization": f"Bearer {st_hooks.token_for(user)}"},
        **({"body": {"title": "probe"}} if method == "POST" else {}),
    )
    try:
        case.call_and_validate()
    except FailureGroup as found:
        return str(found) + "".join(str(e) for e in found.exceptions)
    return ""


def _seed(app: FastAPI, user: str = "alice") -> int:
    transport = httpx.ASGITransport(app=app)

    async def create() -> int:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post(
                f"/api/{user}/tasks",
                json={"title": "victim's"},
                headers={"Authorization": f"Bearer {st_hooks.token_for(user)}"},
            )
            task_id: int = response.json()["id"]
            return task_id

    import anyio

    return anyio.run(create)


def test_the_intact_app_passes(broken_app: FastAPI) -> None:
    task_id = _seed(broken_app)
    assert _run(broken_app, "GET", "/api/{user_id}/tasks") == ""
    assert _run(broken_app, "GET", "/api/{user_id}/tasks/{task_id}", task_id=task_id) == ""


def test_list_without_owner_filter_is_caught(
    broken_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    _list_without_owner_filter(broken_app, monkeypatch)
    _seed(broken_app)
    found = _run(broken_app, "GET", "/api/{user_id}/tasks")
    assert "cross_user_isolation" in found
    assert "another user's list shows the owner's Task objects" in found


def test_sorted_list_without_owner_filter_is_caught(
    broken_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sorted_list_without_owner_filter(broken_app, monkeypatch)
    _seed(broken_app)
    found = _run(broken_app, "GET", "/api/{user_id}/tasks")
    assert "cross_user_isolation" in found


def test_get_by_id_alone_is_caught(broken_app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    _get_by_id_alone(broken_app, monkeypatch)
    task_id = _seed(broken_app)
    found = _run(broken_app, "GET", "/api/{user_id}/tasks/{task_id}", task_id=task_id)
    assert "cross_user_isolation" in found
    assert "another user's Task answered 200" in found


def test_accepting_expired_tokens_is_caught(
    broken_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    _accepts_expired_tokens(broken_app, monkeypatch)
    found = _run(broken_app, "GET", "/api/{user_id}/tasks")
    assert "unauthenticated_replays" in found
    assert "with expired: 200, not 401" in found


def test_trusting_the_path_user_id_is_caught(
    broken_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    _trusts_the_path_user_id(broken_app, monkeypatch)
    _seed(broken_app)
    found = _run(broken_app, "GET", "/api/{user_id}/tasks")
    assert "cross_user_isolation" in found
    assert "another user's token got 200" in found


def test_an_undocumented_response_field_is_caught(
    broken_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    _leaks_an_undocumented_field(broken_app, monkeypatch)
    task_id = _seed(broken_app)
    found = _run(broken_app, "GET", "/api/{user_id}/tasks/{task_id}", task_id=task_id)
    assert "Response violates schema" in found
    assert "owner_id" in found


def test_an_undocumented_route_is_caught_by_parity(broken_app: FastAPI) -> None:
    @broken_app.get("/api/{user_id}/export", operation_id="exportTasks")
    def export(user_id: str) -> dict[str, str]:
        return {}

    extra, missing = operation_differences(broken_app)
    assert extra == [("GET", "/api/{user_id}/export")]
    assert missing == []


def test_delete_that_does_not_delete_is_caught_by_stateful_links(
    broken_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    def delete_task(session: Any, *, owner_id: str, task_id: int, versions: Any = None) -> bool:
        return store.get_task(session, owner_id=owner_id, task_id=task_id) is not None

    monkeypatch.setattr(store, "delete_task", delete_task)
    schema = load_schema(broken_app)
    workflow = schema.as_state_machine()
    with pytest.raises(FailureGroup, match="Deleted resource still available"):
        workflow.run(
            settings=hypothesis.settings(max_examples=60, stateful_step_count=10, deadline=None)
        )


def test_a_body_read_before_authentication_is_caught(broken_app: FastAPI) -> None:
    # The body limit outside authentication: a stranger's oversized body gets 413, not 401.
    broken_app.add_middleware(BodyLimitMiddleware, max_bytes=64 * 1024)
    found = _run(broken_app, *_CREATE)
    assert "body_waits_for_authentication" in found
    assert "413, not 401 (the body was read first)" in found


def test_cors_with_credentials_is_caught(broken_app: FastAPI) -> None:
    for middleware in broken_app.user_middleware:
        if middleware.cls is ProblemCORSMiddleware:
            middleware.kwargs["allow_credentials"] = True
    found = _run(broken_app, "GET", "/api/{user_id}/tasks")
    assert "cors_names_only_the_listed_origin" in found
    assert "Access-Control-Allow-Credentials 'true'" in found


# --- The abuse-limit probes bite (backend/tests/fixtures/limit_probes.py) -------------------------


async def _findings_on(
    tmp_path: Path, probe: Callable[[httpx.AsyncClient], Awaitable[list[str]]], **limits: str
) -> list[str]:
    app = create_app(make_settings(tmp_path, **limits))
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        return await probe(client)


@pytest.mark.anyio
async def test_no_rate_limit_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hit = Limiter.hit

    async def never_refuses(self: Limiter, policy: Policy, key: str) -> Usage | None:
        usage = await hit(self, policy, key)
        return usage and Usage(usage.policy, True, usage.remaining, usage.reset_seconds)

    monkeypatch.setattr(Limiter, "hit", never_refuses)
    alice = User("alice", mint("alice"))
    found = await _findings_on(
        tmp_path, lambda client: budget_findings(client, alice, 5), RATE_LIMIT="5/minute"
    )
    assert found == ["request 6 answered 200, not 429"]


@pytest.mark.anyio
async def test_a_quota_off_by_one_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create = store.create_task

    def one_too_many(connection: Any, *, max_tasks: int | None = None, **values: Any) -> Any:
        return create(connection, max_tasks=max_tasks and max_tasks + 1, **values)

    monkeypatch.setattr(store, "create_task", one_too_many)
    alice = User("alice", mint("alice"))

    async def probe(client: httpx.AsyncClient) -> list[str]:
        for _ in range(4):
            await client.post("/api/alice/tasks", json={"title": "t"}, headers=alice.headers)
        return await quota_findings([client], alice, 5)

    found = await _findings_on(tmp_path, probe, MAX_TASKS_PER_USER="5")
    assert "2 of 50 concurrent creates at quota - 1 made a task" in found


@pytest.mark.anyio
async def test_a_throttle_that_still_verifies_signatures_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signature_checks = count_signature_checks(monkeypatch)
    authenticate = AuthMiddleware._authenticate

    async def verify_first(self: AuthMiddleware, scope: Any) -> Any:
        with contextlib.suppress(Exception):
            self.verifier.verify(self._bearer_token(scope))  # the signature work, wasted
        return await authenticate(self, scope)

    monkeypatch.setattr(AuthMiddleware, "_authenticate", verify_first)
    alice = User("alice", mint("alice"))
    found = await _findings_on(
        tmp_path,
        lambda client: throttle_findings(client, alice, 3, signature_checks),
        RATE_LIMIT_AUTH_FAILURES="3/minute",
    )
    assert found == ["the throttle verified 20 signatures past the budget"]


# --- The safe-write guards bite (issue 13) -----------------------------------------------------


def _patch_case(app: FastAPI, task_id: int, user: str = "alice") -> str:
    """One well-formed PATCH through Schemathesis with every check on; the failures found."""
    case = load_schema(app)["/api/{user_id}/tasks/{task_id}"]["PATCH"].Case(
        path_parameters={"user_id": user, "task_id": task_id},
        headers={"Authorization": f"Bearer {st_hooks.token_for(user)}"},
        body={"title": "probe"},
    )
    try:
        case.call_and_validate()
    except FailureGroup as found:
        return str(found) + "".join(str(e) for e in found.exceptions)
    return ""


def test_the_intact_app_passes_the_stale_if_match_check(broken_app: FastAPI) -> None:
    assert _patch_case(broken_app, _seed(broken_app)) == ""


def test_a_write_that_ignores_if_match_is_caught_by_the_stale_if_match_check(
    broken_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    update = store.update_task

    def unconditional(connection: Any, *, versions: Any = None, **arguments: Any) -> Any:
        return update(connection, **arguments)

    monkeypatch.setattr(store, "update_task", unconditional)
    found = _patch_case(broken_app, _seed(broken_app))
    assert "stale_if_match_writes_nothing" in found
    assert 'with the stale If-Match "1": 200, not 412' in found


@pytest.mark.anyio
async def test_a_check_then_write_race_on_if_match_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The naive implementation: read the version, compare, then write unconditionally. Each
    # request alone behaves (the Schemathesis check above passes it); concurrent writers holding
    # one ETag both read the old version before either writes, and both win.
    unconditional = Tasks._update

    async def check_then_write(
        self: Tasks, owner_id: str, task_id: int, changes: Any, if_match: Any
    ) -> Any:
        versions = self._versions(if_match)
        current = await self.get_task(owner_id, task_id)
        if versions is not None and current.version not in versions:
            raise PreconditionFailed()
        return await unconditional(self, owner_id, task_id, changes, None)

    monkeypatch.setattr(Tasks, "_update", check_then_write)
    alice = User("alice", mint("alice"))
    found = await _findings_on(
        tmp_path, lambda client: lost_update_findings([client], alice, rounds=6, writers=4)
    )
    assert any("with one If-Match got [200, 200" in finding for finding in found), found


def test_the_intact_app_passes_the_replayed_create_check(broken_app: FastAPI) -> None:
    assert _run(broken_app, *_CREATE) == ""


def test_a_replay_that_creates_again_is_caught_by_the_replayed_create_check(
    broken_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The key is accepted but never looked up: every retry runs the create again.
    monkeypatch.setattr(idempotency, "find", lambda connection, **_: None)
    monkeypatch.setattr(idempotency, "save", lambda connection, **_: None)
    found = _run(broken_app, *_CREATE)
    assert "replayed_create_makes_no_second_resource" in found
    assert "sent again with its Idempotency-Key: 201, not the first answer" in found


def test_a_key_not_scoped_per_user_is_caught_by_the_replayed_create_check(
    broken_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stored answer is looked up by the key alone: another user's identical key replays it.
    by_key_alone = text("SELECT request_hash, status, body FROM idempotency_keys WHERE key = :k")

    def find(connection: Any, *, owner_id: str, key: str, now: Any) -> Any:
        row = connection.execute(by_key_alone, {"k": key}).first()
        return None if row is None else idempotency.Answer(*row)

    monkeypatch.setattr(idempotency, "find", find)
    found = _run(broken_app, *_CREATE)
    assert "replayed_create_makes_no_second_resource" in found
    assert "keys must be per user" in found


@pytest.mark.parametrize("field", ["completed", "due_at"])
def test_a_request_hash_of_some_fields_only_is_caught_by_the_replayed_create_check(
    broken_app: FastAPI, monkeypatch: pytest.MonkeyPatch, field: str
) -> None:
    # The hash leaves a field out: a retry with it changed replays the first answer, and the
    # second request's value is silently dropped.
    def partial_hash(body: Any) -> str:
        return hashlib.sha256(body.model_dump_json(exclude={field}).encode()).hexdigest()

    monkeypatch.setattr(service, "_request_hash", partial_hash)
    found = _run(broken_app, *_CREATE)
    assert "replayed_create_makes_no_second_resource" in found
    assert f"and {field} changed to" in found
    assert "201, not 422" in found


def test_a_write_verb_not_counted_as_a_write_is_caught_by_the_writes_budget_check(
    broken_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit_middleware, "WRITE_METHODS", frozenset({"POST", "PUT"}))
    found = _patch_case(broken_app, _seed(broken_app))
    assert "writes_count_against_the_writes_budget" in found
    assert "a write not counted as a write" in found


@pytest.mark.anyio
async def test_a_check_then_create_race_on_the_key_is_caught_by_the_duplicate_create_probe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The naive implementation: look the key up in one transaction, then create and store the
    # answer in another. Each request alone behaves (the Schemathesis check passes it);
    # concurrent senders of one key all look before any stores, and each creates.
    create = Tasks.create_task

    async def check_then_create(
        self: Tasks, owner_id: str, body: Any, idempotency_key: str | None = None
    ) -> Created:
        if idempotency_key is None:
            return await create(self, owner_id, body)
        key = idempotency_key

        def look(connection: Any) -> Any:
            return idempotency.find(connection, owner_id=owner_id, key=key, now=utc_now())

        earlier = await self._database.run(owner_id, look)
        if earlier is not None:
            return Created(Task.model_validate_json(earlier.body), earlier.status, replayed=True)
        created = await create(self, owner_id, body)

        def store_answer(connection: Any) -> None:
            # "Someone stored it meanwhile": ignored, as such code does.
            with contextlib.suppress(IntegrityError):
                answer = idempotency.Answer(
                    _request_hash(body), 201, created.task.model_dump_json()
                )
                now = utc_now()
                idempotency.save(
                    connection,
                    owner_id=owner_id,
                    key=key,
                    answer=answer,
                    now=now,
                    expires_at=now + timedelta(days=1),
                )

        await self._database.run(owner_id, store_answer)
        return created

    monkeypatch.setattr(Tasks, "create_task", check_then_create)
    alice = User("alice", mint("alice"))
    found = await _findings_on(
        tmp_path, lambda client: duplicate_create_findings([client], alice, rounds=1)
    )
    assert any("sends with one key made" in finding for finding in found), found
