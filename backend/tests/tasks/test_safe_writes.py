"""Versions, ETags and conditional requests (issue 13) through the real app, on both databases:
If-Match makes a write conditional in its one statement, If-None-Match saves a read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text

from fixtures import pg_databases
from fixtures.api import (
    User,
    as_owner,
    asgi_client,
    create_task,
    postgres_settings,
    settings_with,
)
from fixtures.write_probes import lost_update_findings
from todo_api.db.lifecycle import upgrade
from todo_api.main import create_app
from todo_api.settings import Settings

pytestmark = pytest.mark.anyio

PRECONDITION_FAILED = "urn:todo-api:problem:precondition-failed"


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


def _url(user: User, task: dict[str, Any]) -> str:
    return f"/api/{user.id}/tasks/{task['id']}"


def _if_match(user: User, tag: str) -> dict[str, str]:
    return user.headers | {"If-Match": tag}


WRITES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("PUT", "", {"title": "replaced", "description": None, "completed": True}),
    ("PATCH", "", {"title": "patched"}),
    ("PATCH", "/complete", None),
    ("DELETE", "", None),
]


async def test_every_write_adds_one_to_the_version_and_its_etag(
    client: httpx.AsyncClient, alice: User
) -> None:
    created = await client.post("/api/alice/tasks", json={"title": "v"}, headers=alice.headers)
    assert (created.json()["version"], created.headers["etag"]) == (1, '"1"')
    url = _url(alice, created.json())
    got = await client.get(url, headers=alice.headers)
    assert (got.json()["version"], got.headers["etag"]) == (1, '"1"')
    for expected, (method, suffix, body) in enumerate(WRITES[:3], start=2):
        answer = await client.request(method, url + suffix, json=body, headers=alice.headers)
        assert answer.status_code == 200, answer.text
        assert (answer.json()["version"], answer.headers["etag"]) == (expected, f'"{expected}"')
    listed = (await client.get("/api/alice/tasks", headers=alice.headers)).json()["items"]
    assert listed[0]["version"] == 4


@pytest.mark.parametrize(("method", "suffix", "body"), WRITES)
async def test_a_stale_if_match_is_412_and_writes_nothing(
    client: httpx.AsyncClient, alice: User, method: str, suffix: str, body: Any
) -> None:
    task = await create_task(client, alice)
    url = _url(alice, task)
    moved = await client.patch(url, json={"title": "moved on"}, headers=_if_match(alice, '"1"'))
    assert moved.status_code == 200
    before = (await client.get(url, headers=alice.headers)).json()

    for stale in ('"1"', 'W/"2"', '"1", "3"', "garbled"):
        answer = await client.request(
            method, url + suffix, json=body, headers=_if_match(alice, stale)
        )
        assert answer.status_code == 412, (stale, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == PRECONDITION_FAILED
    assert (await client.get(url, headers=alice.headers)).json() == before

    # The current tag (also within a list) passes.
    answer = await client.request(
        method, url + suffix, json=body, headers=_if_match(alice, '"7", "2"')
    )
    assert answer.status_code == (204 if method == "DELETE" else 200), answer.text


@pytest.mark.parametrize(("method", "suffix", "body"), WRITES)
async def test_star_matches_any_existing_task_and_a_missing_one_stays_404(
    client: httpx.AsyncClient, alice: User, method: str, suffix: str, body: Any
) -> None:
    task = await create_task(client, alice)
    await client.patch(_url(alice, task), json={"completed": True}, headers=alice.headers)
    answer = await client.request(
        method, _url(alice, task) + suffix, json=body, headers=_if_match(alice, "*")
    )
    assert answer.status_code == (204 if method == "DELETE" else 200), answer.text
    missing = await client.request(
        method, f"/api/alice/tasks/999999{suffix}", json=body, headers=_if_match(alice, "*")
    )
    assert missing.status_code == 404


async def test_if_none_match_answers_304_with_the_etag_and_no_body(
    client: httpx.AsyncClient, alice: User
) -> None:
    url = _url(alice, await create_task(client, alice))
    for tag in ('"1"', 'W/"1"', "*", '"5", "1"'):
        answer = await client.get(url, headers=alice.headers | {"If-None-Match": tag})
        assert answer.status_code == 304, tag
        assert answer.headers["etag"] == '"1"'
        assert answer.content == b""
    await client.patch(url, json={"title": "changed"}, headers=alice.headers)
    answer = await client.get(url, headers=alice.headers | {"If-None-Match": '"1"'})
    assert (answer.status_code, answer.json()["title"], answer.headers["etag"]) == (
        200,
        "changed",
        '"2"',
    )


@pytest.mark.parametrize(("method", "suffix", "body"), WRITES)
async def test_require_if_match_refuses_a_write_without_it_with_428(
    settings: Settings, alice: User, method: str, suffix: str, body: Any
) -> None:
    async with (
        served(settings_with(settings, REQUIRE_IF_MATCH="true")) as app,
        asgi_client(app) as client,
    ):
        task = await create_task(client, alice)
        url = _url(alice, task) + suffix
        refused = await client.request(method, url, json=body, headers=alice.headers)
        assert refused.status_code == 428, refused.text
        assert refused.json()["type"] == "urn:todo-api:problem:precondition-required"
        assert (await client.get(_url(alice, task), headers=alice.headers)).json() == task
        answer = await client.request(method, url, json=body, headers=_if_match(alice, '"1"'))
        assert answer.status_code == (204 if method == "DELETE" else 200), answer.text


async def test_another_users_task_is_the_same_404_whatever_the_precondition(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    theirs = await create_task(client, bob, "bob's")
    for method, suffix, body in WRITES:
        for tag in ('"1"', '"2"', "*", None):
            headers = alice.headers if tag is None else _if_match(alice, tag)
            answers = [
                await client.request(
                    method, f"/api/alice/tasks/{task_id}{suffix}", json=body, headers=headers
                )
                for task_id in (theirs["id"], 999999)
            ]
            assert [a.status_code for a in answers] == [404, 404], (method, tag)
            assert answers[0].json() == answers[1].json()
            assert "etag" not in answers[0].headers
    for tag in ('"1"', "*"):
        seen = await client.get(
            f"/api/alice/tasks/{theirs['id']}", headers=alice.headers | {"If-None-Match": tag}
        )
        assert seen.status_code == 404
    assert (await client.get(_url(bob, theirs), headers=bob.headers)).json() == theirs


async def test_two_patches_with_one_if_match_make_one_200_and_one_412(
    client: httpx.AsyncClient, alice: User
) -> None:
    assert await lost_update_findings([client], alice) == []


@pytest.mark.pooler
async def test_two_instances_on_one_postgresql_let_one_writer_win(
    tmp_path: Path, postgres: pg_databases.Database, alice: User
) -> None:
    settings = postgres_settings(tmp_path, postgres)
    async with (
        served(settings) as a,
        served(settings) as b,
        asgi_client(a) as first,
        asgi_client(b) as second,
    ):
        assert await lost_update_findings([first, second], alice, writers=4) == []


# --- Migration 0002 on the previous release's data -----------------------------------------


# The previous release's INSERT, which names no version.
PREVIOUS_INSERT = text(
    "INSERT INTO tasks (owner_id, title, description, completed, created_at, updated_at) "
    "VALUES ('alice', :title, NULL, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
)


def test_migration_0002_gives_the_previous_releases_tasks_version_1(
    previous_release: Callable[[str], Engine],
) -> None:
    at_0001 = previous_release("0001")
    with at_0001.begin() as connection:
        as_owner(connection, "alice")
        for title in ("old one", "old two"):
            connection.execute(PREVIOUS_INSERT, {"title": title})
    upgrade(at_0001)
    with at_0001.begin() as connection:
        as_owner(connection, "alice")
        # The previous release, still running during the rollout, keeps inserting.
        connection.execute(PREVIOUS_INSERT, {"title": "during the rollout"})
        rows = connection.execute(text("SELECT title, version FROM tasks ORDER BY id")).all()
    assert [tuple(row) for row in rows] == [
        ("old one", 1),
        ("old two", 1),
        ("during the rollout", 1),
    ]
