"""Two `todo-api serve` processes on one PostgreSQL, as behind a load balancer: under concurrent
load from many users spread over both, no write is lost, no answer carries another user's data,
and pages stay consistent while tasks are added. Bounded: a fixed number of requests, loopback."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import pytest

from fixtures.api import mint

# The two instances also share their database through PgBouncer in transaction mode.
pytestmark = [pytest.mark.server, pytest.mark.anyio, pytest.mark.pooler]

USERS = [f"user-{i:02d}" for i in range(12)]
CREATES_PER_USER = 10
TOGGLES_PER_USER = 9  # odd: a lost toggle leaves `completed` false
PAGE = 7


def _auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(user, ttl=600)}"}


def _mine(user: str, task: dict[str, Any]) -> None:
    assert task["title"].startswith(f"{user}:"), f"{user} was answered {task['title']!r}"


async def _walk(http: httpx.AsyncClient, base: str, user: str) -> list[dict[str, Any]]:
    """Every page of `user`'s list on one instance; each item checked to be theirs."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        params: dict[str, Any] = {"limit": PAGE, **({"cursor": cursor} if cursor else {})}
        page = await http.get(f"{base}/api/{user}/tasks", params=params, headers=_auth(user))
        assert page.status_code == 200, page.text
        for task in page.json()["items"]:
            _mine(user, task)
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def _consistent(items: list[dict[str, Any]]) -> list[int]:
    ids = [task["id"] for task in items]
    assert ids == sorted(set(ids), reverse=True), "a page repeated or reordered tasks"
    return ids


async def test_many_users_over_two_instances_lose_nothing_and_leak_nothing(
    two_servers: list[str],
) -> None:
    spread = itertools.cycle(two_servers)
    limits = httpx.Limits(max_connections=24)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:

        async def create(user: str, n: int, base: str) -> tuple[str, int]:
            answer = await http.post(
                f"{base}/api/{user}/tasks", json={"title": f"{user}:{n}"}, headers=_auth(user)
            )
            assert answer.status_code == 201, answer.text
            _mine(user, answer.json())
            return user, answer.json()["id"]

        created = await asyncio.gather(
            *(create(user, n, next(spread)) for n in range(CREATES_PER_USER) for user in USERS)
        )
        expected = {user: {i for owner, i in created if owner == user} for user in USERS}

        # Every write is there, on both instances, and nothing else is.
        for user in USERS:
            for base in two_servers:
                ids = _consistent(await _walk(http, base, user))
                assert set(ids) == expected[user]

        # Concurrent toggles of one task per user, from both instances: none may be lost.
        async def toggle(user: str, task_id: int, base: str) -> None:
            answer = await http.patch(
                f"{base}/api/{user}/tasks/{task_id}/complete", headers=_auth(user)
            )
            assert answer.status_code == 200, answer.text
            _mine(user, answer.json())

        targets = {user: min(expected[user]) for user in USERS}
        await asyncio.gather(
            *(
                toggle(user, targets[user], next(spread))
                for _ in range(TOGGLES_PER_USER)
                for user in USERS
            )
        )
        for user in USERS:
            for base in two_servers:
                answer = await http.get(
                    f"{base}/api/{user}/tasks/{targets[user]}", headers=_auth(user)
                )
                assert answer.json()["completed"] is True, f"{user} lost a toggle"


async def test_pages_stay_consistent_on_one_instance_while_the_other_takes_inserts(
    two_servers: list[str],
) -> None:
    writer, reader = two_servers
    user = "walker"
    async with httpx.AsyncClient(timeout=60) as http:

        async def add(n: int) -> int:
            answer = await http.post(
                f"{writer}/api/{user}/tasks", json={"title": f"{user}:{n}"}, headers=_auth(user)
            )
            assert answer.status_code == 201, answer.text
            task_id: int = answer.json()["id"]
            return task_id

        before = {await add(n) for n in range(40)}

        async def keep_adding() -> None:
            for n in range(40, 80):
                await add(n)

        walks, _ = await asyncio.gather(
            asyncio.gather(*(_walk(http, reader, user) for _ in range(6))), keep_adding()
        )
        for walk in walks:
            ids = _consistent(walk)
            assert before <= set(ids), "a task that existed before the walk was skipped"
