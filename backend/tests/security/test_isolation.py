"""Two users' data stay apart across every operation (real app, real SQLite file)."""

from __future__ import annotations

import httpx
import pytest

from fixtures.api import User, all_tasks, create_task

pytestmark = pytest.mark.anyio


async def test_each_user_lists_only_their_own_tasks(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    for i in range(3):
        await create_task(client, alice, f"alice {i}")
        await create_task(client, bob, f"bob {i}")
    assert [t["title"] for t in await all_tasks(client, alice)] == ["alice 2", "alice 1", "alice 0"]
    assert [t["title"] for t in await all_tasks(client, bob)] == ["bob 2", "bob 1", "bob 0"]


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PUT", "", {"title": "pwned", "description": "x", "completed": True}),
        ("PATCH", "", {"title": "pwned"}),
        ("PATCH", "/complete", None),
        ("DELETE", "", None),
    ],
    ids=["get", "put", "patch", "toggle", "delete"],
)
async def test_bob_cannot_reach_alice_task_through_his_own_path(
    client: httpx.AsyncClient,
    alice: User,
    bob: User,
    method: str,
    suffix: str,
    body: dict[str, object] | None,
) -> None:
    victim = await create_task(client, alice, "secret plans", description="do not share")
    before = await all_tasks(client, alice)

    attack = await client.request(
        method, f"/api/{bob.id}/tasks/{victim['id']}{suffix}", json=body, headers=bob.headers
    )
    missing = await client.request(
        method, f"/api/{bob.id}/tasks/999999{suffix}", json=body, headers=bob.headers
    )

    # 404, and byte-identical to a task that does not exist: nothing confirms it is there.
    assert attack.status_code == missing.status_code == 404
    assert attack.content == missing.content
    assert attack.headers["content-type"] == "application/problem+json"
    assert await all_tasks(client, alice) == before


async def test_a_deleted_tasks_url_never_reaches_another_users_task(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    # Ids are numbers per owner (migration 0005): bob's first task has the number alice's
    # deleted one had, and alice's old URL must still not reach it, nor a new task of hers.
    gone = await create_task(client, alice, "to delete")
    response = await client.delete(f"/api/alice/tasks/{gone['id']}", headers=alice.headers)
    assert response.status_code == 204
    fresh = await create_task(client, bob, "bob's")
    assert fresh["id"] == gone["id"]
    assert (await create_task(client, alice, "alice's next"))["id"] > gone["id"]
    response = await client.get(f"/api/alice/tasks/{gone['id']}", headers=alice.headers)
    assert response.status_code == 404
