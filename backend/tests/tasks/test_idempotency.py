"""Idempotent creates (issue 13): `Idempotency-Key` on POST makes at most one task per user, key
and body, on both databases, in one process and across instances; expired answers are purged."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text

from fixtures import pg_databases
from fixtures.api import (
    User,
    all_tasks,
    as_owner,
    asgi_client,
    create_task,
    mint,
    postgres_settings,
    settings_with,
)
from fixtures.spec_values import current_value, other_value, properties
from fixtures.write_probes import duplicate_create_findings
from todo_api.db import utc_now
from todo_api.db.lifecycle import upgrade
from todo_api.main import create_app
from todo_api.settings import Settings
from todo_api.spec import load_spec
from todo_api.state import app_state
from todo_api.tasks import idempotency
from todo_api.tasks.schemas import TaskCreate

pytestmark = pytest.mark.anyio

REUSED = "urn:todo-api:problem:idempotency-key-reused"
IN_FLIGHT = "urn:todo-api:problem:idempotency-key-in-flight"
QUOTA = "urn:todo-api:problem:quota-exceeded"


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        yield app, client


@pytest.fixture
async def short_lived(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app whose answers expire after one second."""
    async with served(settings_with(settings, IDEMPOTENCY_TTL_SECONDS="1")) as app_and_client:
        yield app_and_client


def _keyed(user: User, key: str) -> dict[str, str]:
    return user.headers | {"Idempotency-Key": key}


async def _post(client: httpx.AsyncClient, user: User, key: str, **body: Any) -> httpx.Response:
    return await client.post(f"/api/{user.id}/tasks", json=body, headers=_keyed(user, key))


async def test_a_retry_gets_the_first_answer_again_and_makes_no_second_task(
    client: httpx.AsyncClient, alice: User
) -> None:
    first = await _post(client, alice, "retry-1", title="once")
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers

    # Even after the task has changed since: the answer is the one the first request was given.
    url = first.headers["location"]
    assert (await client.patch(url, json={"title": "edited"}, headers=alice.headers)).is_success
    again = await _post(client, alice, "retry-1", title="once")

    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    for header in ("location", "etag"):
        assert again.headers[header] == first.headers[header]
    assert [task["title"] for task in await all_tasks(client, alice)] == ["edited"]


async def test_the_same_request_in_other_words_is_the_same_request(
    client: httpx.AsyncClient, alice: User
) -> None:
    # Hashed as validated: an omitted default and surrounding blanks change nothing.
    first = await _post(client, alice, "words", title="milk", completed=False)
    again = await _post(client, alice, "words", title="  milk ", description=None)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert len(await all_tasks(client, alice)) == 1


async def test_the_same_key_with_another_body_is_422_and_writes_nothing(
    client: httpx.AsyncClient, alice: User
) -> None:
    assert (await _post(client, alice, "reused", title="first")).status_code == 201
    other = await _post(client, alice, "reused", title="second")
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["type"] == REUSED
    assert [task["title"] for task in await all_tasks(client, alice)] == ["first"]


_SPEC = load_spec()
_CREATE = _SPEC["paths"]["/api/{user_id}/tasks"]["post"]["requestBody"]["content"]
_CREATE_FIELDS = properties(_SPEC, _CREATE["application/json"]["schema"])


def test_the_varied_fields_are_the_create_models_fields() -> None:
    # The spec's create schema and the model behind the hash name the same fields: the test
    # below, parametrised by the spec, then varies every field the hash must cover.
    assert sorted(_CREATE_FIELDS) == sorted(TaskCreate.model_fields)


@pytest.mark.parametrize("field", sorted(_CREATE_FIELDS))
async def test_the_same_key_with_any_field_changed_is_422_and_writes_nothing(
    client: httpx.AsyncClient, alice: User, field: str
) -> None:
    # The request hash covers the whole create: a retry that differs in any one field (from the
    # value sent or from its default) is another request, not a replay of the first answer.
    body = {"title": "the first"}
    schema = _CREATE_FIELDS[field]
    varied = body | {field: other_value(schema, current_value(schema, body, field))}
    assert (await _post(client, alice, f"vary-{field}", **body)).status_code == 201
    other = await _post(client, alice, f"vary-{field}", **varied)
    assert other.status_code == 422, f"{field} changed: {other.status_code} {other.text}"
    assert other.json()["type"] == REUSED
    assert [task["title"] for task in await all_tasks(client, alice)] == ["the first"]


@pytest.mark.parametrize(
    "key",
    [
        "",
        " ",
        "k" * 256,
        "caf\u00e9",  # sent as latin-1 bytes: not ASCII
        "tab\there",
        "nul\x01",
    ],
    ids=["empty", "blank", "256-chars", "non-ascii", "tab", "control"],
)
async def test_a_bad_key_is_422_and_writes_nothing(
    client: httpx.AsyncClient, alice: User, key: str
) -> None:
    headers = [(b"authorization", alice.headers["Authorization"].encode())]
    headers.append((b"idempotency-key", key.encode("latin-1")))
    answer = await client.post(f"/api/{alice.id}/tasks", json={"title": "x"}, headers=headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["type"] == "urn:todo-api:problem:validation-error"
    assert await all_tasks(client, alice) == []


async def test_the_longest_key_and_every_printable_character_are_accepted(
    client: httpx.AsyncClient, alice: User
) -> None:
    for key in ("k" * 255, "".join(chr(c) for c in range(0x21, 0x7F)), "a key with spaces"):
        assert (await _post(client, alice, key, title=key[:20])).status_code == 201
    assert len(await all_tasks(client, alice)) == 3


async def test_keys_are_per_user(client: httpx.AsyncClient, alice: User, bob: User) -> None:
    mine = await _post(client, alice, "shared-key", title="same")
    theirs = await _post(client, bob, "shared-key", title="same")
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "idempotent-replayed" not in theirs.headers
    # Each is its owner's first task (ids are numbered per user): bob's is in bob's list.
    assert [t["id"] for t in await all_tasks(client, bob)] == [theirs.json()["id"]]
    # And another body under bob's key is bob's business only: no 422 from alice's use.
    assert (await _post(client, bob, "fresh", title="other")).status_code == 201
    assert len(await all_tasks(client, alice)) == 1
    assert len(await all_tasks(client, bob)) == 2


async def test_a_refused_create_stores_nothing_and_the_key_can_be_sent_again(
    settings: Settings, alice: User
) -> None:
    async with served(settings_with(settings, MAX_TASKS_PER_USER="1")) as (_, client):
        blocking = await create_task(client, alice, "the one allowed")
        refused = await _post(client, alice, "after-quota", title="second")
        assert refused.status_code == 409
        assert refused.json()["type"] == QUOTA
        url = f"/api/{alice.id}/tasks/{blocking['id']}"
        assert (await client.delete(url, headers=alice.headers)).status_code == 204
        made = await _post(client, alice, "after-quota", title="second")
        assert made.status_code == 201
        assert "idempotent-replayed" not in made.headers


async def test_twenty_concurrent_creates_with_one_key_make_one_task(
    client: httpx.AsyncClient, alice: User
) -> None:
    assert await duplicate_create_findings([client], alice) == []


async def test_a_second_request_while_the_first_is_in_flight_is_409(
    settings: Settings, app: FastAPI, client: httpx.AsyncClient, alice: User
) -> None:
    """The first create is held inside its transaction (a writer blocks SQLite's lock, or
    PostgreSQL's advisory lock is taken); the second, with the same key, does not wait."""
    engine = app_state(app).database.engine
    service = app_state(app).tasks
    with engine.connect() as blocker:
        if engine.dialect.name == "sqlite":
            blocker.exec_driver_sql("BEGIN IMMEDIATE")
        else:  # the app role may lock the table it writes: the first create's DELETE waits
            blocker.execute(text("LOCK TABLE idempotency_keys IN EXCLUSIVE MODE"))
        first: list[httpx.Response] = []
        async with anyio.create_task_group() as group:
            group.start_soon(_collect, first, _post(client, alice, "slow", title="a"))
            for _ in range(500):
                if service._in_flight:
                    break
                await asyncio.sleep(0.01)
            second = await _post(client, alice, "slow", title="a")
            assert second.status_code == 409, second.text
            assert second.json()["type"] == IN_FLIGHT
            assert second.headers["retry-after"] == "1"
            await anyio.to_thread.run_sync(blocker.rollback)
    assert first[0].status_code == 201
    assert len(await all_tasks(client, alice)) == 1


async def _collect(
    into: list[httpx.Response], request: Coroutine[Any, Any, httpx.Response]
) -> None:
    into.append(await request)


async def test_an_expired_answer_is_not_replayed_and_the_purge_removes_it(
    short_lived: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = short_lived
    # Users of this test alone: the PostgreSQL database is shared by the whole run.
    alice, bob = (User(name, mint(name)) for name in (f"a-{uuid.uuid4()}", f"b-{uuid.uuid4()}"))
    service = app_state(app).tasks
    for user in (alice, bob):
        assert (await _post(client, user, "old", title="before")).status_code == 201
    await anyio.sleep(1.1)
    # Expired: the key is free again, whatever the body.
    renewed = await _post(client, alice, "old", title="after")
    assert renewed.status_code == 201
    assert "idempotent-replayed" not in renewed.headers
    # Bob's expired answer (and nothing live) goes in one purge, across owners. The app's own
    # purge runs every TTL (a second here) and may have come first: then it took bob's.
    assert await service.purge_expired_keys() <= 1
    assert await _stored_keys(app, alice) == 1
    assert await _stored_keys(app, bob) == 0
    await anyio.sleep(1.1)
    assert await service.purge_expired_keys() <= 1
    assert await _stored_keys(app, alice) == 0


async def _stored_keys(app: FastAPI, user: User) -> int:
    database = app_state(app).database

    def count(connection: Any) -> int:
        query = text("SELECT count(*) FROM idempotency_keys WHERE owner_id = :o")
        return int(connection.execute(query, {"o": user.id}).scalar_one())

    return await database.run(user.id, count)


@pytest.mark.pooler
async def test_another_users_transaction_sees_no_stored_answer(
    pg_app: FastAPI, pg_client: httpx.AsyncClient, alice: User
) -> None:
    """Row-Level Security: as the app role, bound to another user or to none, alice's stored
    answer does not exist; and a purge bound to no user cannot delete a live one."""
    assert (await _post(pg_client, alice, "mine", title="private")).status_code == 201
    database = app_state(pg_app).database

    def visible(connection: Any) -> int:
        return int(connection.execute(text("SELECT count(*) FROM idempotency_keys")).scalar_one())

    assert await database.run("mallory", visible) == 0
    assert await database.run(None, visible) == 0
    assert await app_state(pg_app).tasks.purge_expired_keys() == 0
    assert await database.run(alice.id, visible) == 1
    # Run bound to alice, the WHERE-less purge would take her live answer: it refuses instead.
    with pytest.raises(RuntimeError, match="bound to no user"):
        await database.run(alice.id, lambda c: idempotency.purge_expired(c, now=utc_now()))
    assert await database.run(alice.id, visible) == 1


@pytest.mark.pooler
async def test_two_instances_in_one_process_make_one_task(
    tmp_path: Path, postgres: pg_databases.Database, alice: User
) -> None:
    settings = postgres_settings(tmp_path, postgres)
    async with served(settings) as (_, first), served(settings) as (_, second):
        assert await duplicate_create_findings([first, second], alice) == []


# --- Two real servers on one PostgreSQL ------------------------------------------------------


@pytest.mark.server
@pytest.mark.pooler
async def test_two_servers_make_one_task_of_twenty_sends_and_let_one_writer_win(
    two_servers: list[str],
) -> None:
    from fixtures.write_probes import lost_update_findings

    user = User("racer", mint("racer", ttl=600))
    async with (
        httpx.AsyncClient(base_url=two_servers[0], timeout=30) as first,
        httpx.AsyncClient(base_url=two_servers[1], timeout=30) as second,
    ):
        assert await duplicate_create_findings([first, second], user) == []
        assert await lost_update_findings([first, second], user, writers=4) == []


# --- Migration 0003 on the previous release's data -----------------------------------------


def test_migration_0003_keeps_the_previous_releases_tasks(
    previous_release: Callable[[str], Engine],
) -> None:
    at_0002 = previous_release("0002")
    insert = text(
        "INSERT INTO tasks (owner_id, title, completed, created_at, updated_at, version) "
        "VALUES ('alice', :title, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 4)"
    )
    with at_0002.begin() as connection:
        as_owner(connection, "alice")
        connection.execute(insert, {"title": "kept"})
    upgrade(at_0002)
    with at_0002.begin() as connection:
        as_owner(connection, "alice")
        connection.execute(insert, {"title": "during the rollout"})  # the previous release
        rows = connection.execute(text("SELECT title, version FROM tasks ORDER BY id")).all()
        keys = connection.execute(text("SELECT count(*) FROM idempotency_keys")).scalar_one()
    assert [tuple(row) for row in rows] == [("kept", 4), ("during the rollout", 4)]
    assert keys == 0
