"""Task operations end to end: semantics, headers, pagination, concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from api_fixtures import User, all_tasks, create_task

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
