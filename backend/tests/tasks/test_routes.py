"""tasks/routes.py: task operations end to end: semantics, headers, pagination, concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from fixtures.api import User, all_tasks, asgi_client, create_task, running_app, settings_with
from todo_api.settings import Settings

pytestmark = pytest.mark.anyio


async def test_create_returns_201_with_location_and_trimmed_title(
    client: httpx.AsyncClient, alice: User
) -> None:
    response = await client.post(
        "/api/alice/tasks", json={"title": "  Buy milk \n"}, headers=alice.headers
    )
    assert response.status_code == 201
    task = response.json()
    assert response.headers["location"] == f"/api/alice/tasks/{task['id']}"
    assert task["title"] == "Buy milk"
    assert task["description"] is None
    assert task["completed"] is False
    assert task["created_at"] == task["updated_at"]
    assert task["created_at"].endswith("Z")
    fetched = await client.get(response.headers["location"], headers=alice.headers)
    assert fetched.json() == task


async def test_put_replaces_every_field(client: httpx.AsyncClient, alice: User) -> None:
    task = await create_task(client, alice, "old", description="old text")
    body = {"title": "new", "description": None, "completed": True}
    response = await client.put(f"/api/alice/tasks/{task['id']}", json=body, headers=alice.headers)
    assert response.status_code == 200
    assert {k: response.json()[k] for k in body} == body
    assert response.json()["updated_at"] >= task["updated_at"]


async def test_patch_writes_only_the_fields_sent(client: httpx.AsyncClient, alice: User) -> None:
    task = await create_task(client, alice, "keep", description="keep too")
    response = await client.patch(
        f"/api/alice/tasks/{task['id']}", json={"completed": True}, headers=alice.headers
    )
    assert response.status_code == 200
    assert response.json() | {"updated_at": None} == task | {
        "completed": True,
        "updated_at": None,
        "version": 2,
    }
    cleared = await client.patch(
        f"/api/alice/tasks/{task['id']}", json={"description": None}, headers=alice.headers
    )
    assert cleared.json()["description"] is None
    assert cleared.json()["title"] == "keep"


async def test_toggle_flips_completion_each_time(client: httpx.AsyncClient, alice: User) -> None:
    task = await create_task(client, alice)
    states = []
    for _ in range(3):
        response = await client.patch(
            f"/api/alice/tasks/{task['id']}/complete", headers=alice.headers
        )
        assert response.status_code == 200
        states.append(response.json()["completed"])
    assert states == [True, False, True]


async def test_delete_removes_the_task(client: httpx.AsyncClient, alice: User) -> None:
    task = await create_task(client, alice)
    response = await client.delete(f"/api/alice/tasks/{task['id']}", headers=alice.headers)
    assert response.status_code == 204
    assert response.content == b""
    again = await client.delete(f"/api/alice/tasks/{task['id']}", headers=alice.headers)
    assert again.status_code == 404
    assert await all_tasks(client, alice) == []


@pytest.mark.parametrize(("status", "expected"), [("all", 4), ("pending", 2), ("completed", 2)])
async def test_status_filter(
    client: httpx.AsyncClient, alice: User, status: str, expected: int
) -> None:
    for i in range(4):
        await create_task(client, alice, f"t{i}", completed=i % 2 == 0)
    response = await client.get(f"/api/alice/tasks?status={status}", headers=alice.headers)
    items = response.json()["items"]
    assert len(items) == expected
    if status != "all":
        assert {t["completed"] for t in items} == {status == "completed"}


async def test_pagination_walks_everything_without_gaps_or_repeats_during_inserts(
    client: httpx.AsyncClient, alice: User
) -> None:
    originals = [(await create_task(client, alice, f"t{i}"))["id"] for i in range(23)]
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/alice/tasks", params=params, headers=alice.headers)).json()
        assert len(page["items"]) <= 5
        seen += [t["id"] for t in page["items"]]
        await create_task(
            client, alice, f"inserted during page {pages}"
        )  # newer: never on a later page
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(originals, reverse=True)
    assert pages == 5


async def test_last_page_has_null_cursor(client: httpx.AsyncClient, alice: User) -> None:
    for i in range(2):
        await create_task(client, alice, f"t{i}")
    page = (await client.get("/api/alice/tasks?limit=2", headers=alice.headers)).json()
    assert len(page["items"]) == 2
    assert page["next_cursor"] is None


async def test_concurrent_toggles_with_one_token_lose_no_write(
    client: httpx.AsyncClient, alice: User
) -> None:
    task = await create_task(client, alice)
    url = f"/api/alice/tasks/{task['id']}/complete"
    responses = await asyncio.gather(*(client.patch(url, headers=alice.headers) for _ in range(20)))
    assert {r.status_code for r in responses} == {200}
    final = await client.get(f"/api/alice/tasks/{task['id']}", headers=alice.headers)
    assert final.json()["completed"] is False  # 20 flips: back where it started


async def test_concurrent_patches_of_different_fields_both_survive(
    client: httpx.AsyncClient, alice: User
) -> None:
    tasks = [await create_task(client, alice, f"t{i}") for i in range(10)]

    async def edit(task: dict[str, Any]) -> None:
        url = f"/api/alice/tasks/{task['id']}"
        await asyncio.gather(
            client.patch(url, json={"title": "renamed"}, headers=alice.headers),
            client.patch(url, json={"completed": True}, headers=alice.headers),
            client.patch(url, json={"description": "noted"}, headers=alice.headers),
        )

    await asyncio.gather(*(edit(task) for task in tasks))
    for task in await all_tasks(client, alice):
        assert (task["title"], task["completed"], task["description"]) == ("renamed", True, "noted")


async def test_concurrent_creates_with_one_token_all_land(
    client: httpx.AsyncClient, alice: User
) -> None:
    await asyncio.gather(*(create_task(client, alice, f"c{i}") for i in range(30)))
    assert len(await all_tasks(client, alice)) == 30


async def test_any_well_formed_cursor_is_a_page(client: httpx.AsyncClient, alice: User) -> None:
    ids = [(await create_task(client, alice, f"t{i}"))["id"] for i in range(3)]
    below = await client.get(f"/api/alice/tasks?cursor={ids[1]}", headers=alice.headers)
    assert [t["id"] for t in below.json()["items"]] == [ids[0]]
    bottom = await client.get("/api/alice/tasks?cursor=1", headers=alice.headers)
    assert bottom.json() == {"items": [], "next_cursor": None}
    top = await client.get("/api/alice/tasks?cursor=" + "9" * 19, headers=alice.headers)
    assert [t["id"] for t in top.json()["items"]] == ids[::-1]


# --- Ids that reveal nothing (research L2): a task's id is its number among its owner's tasks --


async def test_a_users_first_task_is_1_whatever_others_created(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    for i in range(3):
        await create_task(client, bob, f"bob's {i}")
    assert (await create_task(client, alice, "alice's first"))["id"] == 1
    assert (await create_task(client, bob, "bob's fourth"))["id"] == 4
    assert (await create_task(client, alice, "alice's second"))["id"] == 2


async def test_ids_are_not_reused_after_a_delete(client: httpx.AsyncClient, alice: User) -> None:
    first, second = [await create_task(client, alice, f"t{i}") for i in range(2)]
    for task in (second, first):
        deleted = await client.delete(f"/api/alice/tasks/{task['id']}", headers=alice.headers)
        assert deleted.status_code == 204
    # max + 1 would hand out 1 again, and an old link or cursor would meet another task.
    assert (await create_task(client, alice, "after"))["id"] == 3


async def test_quota_refusal_uses_up_no_number(settings: Settings, alice: User) -> None:
    limited = settings_with(settings, MAX_TASKS_PER_USER="1")
    async with running_app(limited) as app, asgi_client(app) as client:
        assert (await create_task(client, alice, "one"))["id"] == 1
        refused = await client.post(
            "/api/alice/tasks", json={"title": "two"}, headers=alice.headers
        )
        assert refused.status_code == 409, refused.text
        await client.delete("/api/alice/tasks/1", headers=alice.headers)
        assert (await create_task(client, alice, "two"))["id"] == 2


async def test_another_users_task_with_the_same_number_is_a_404(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    for i in range(2):
        await create_task(client, alice, f"alice's {i}")
    bobs = await create_task(client, bob, "bob's own")
    assert bobs["id"] == 1
    # Alice's task 2 exists; for bob, task 2 is none of his: every operation answers 404.
    path = f"/api/{bob.id}/tasks/2"
    answers = [
        await client.get(path, headers=bob.headers),
        await client.put(
            path, json={"title": "x", "description": None, "completed": True}, headers=bob.headers
        ),
        await client.patch(path, json={"title": "x"}, headers=bob.headers),
        await client.patch(path + "/complete", headers=bob.headers),
        await client.delete(path, headers=bob.headers),
    ]
    assert [answer.status_code for answer in answers] == [404] * 5
    # Task 1 is bob's own for bob, alice's own for alice: neither reaches the other's.
    own = await client.get(f"/api/{bob.id}/tasks/1", headers=bob.headers)
    assert own.json()["title"] == "bob's own"
    assert (await client.delete(f"/api/{bob.id}/tasks/1", headers=bob.headers)).status_code == 204
    assert [t["title"] for t in await all_tasks(client, alice)] == ["alice's 1", "alice's 0"]
