"""Behind a transaction pooler: a real `todo-api serve` whose DATABASE_URL goes through PgBouncer
in `pool_mode = transaction` (docs/deploying.md's configuration), under a mixed load of several
users, answers no 5xx, loses no acknowledged write and keeps users apart (an intruder's reads,
changes and deletes of the others' tasks, all through the load, are 404).

Such a pooler may give each transaction another server connection, so nothing the service sends
may outlive its transaction (server-side prepared statements, session settings or locks).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from string import Template
from typing import Any

import httpx
import pytest

from fixtures import pg_databases
from fixtures.api import mint
from fixtures.doc_recipes import recipe
from fixtures.live_server import Server, running_server
from fixtures.pgbouncer import PgBouncer

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.server,
    pytest.mark.skipif(not pg_databases.ADMIN_URL, reason="PostgreSQL-only: set TEST_DATABASE_URL"),
]

USERS = 8
REQUESTS_PER_USER = 200  # 1,600 in all, 8 at a time, and 200 of an intruder's
# The load is about the pooler, not about rate limits.
NO_ANSWER = 0  # the status counted for a request whose connection broke without an answer
UNLIMITED = {"RATE_LIMIT": "off", "RATE_LIMIT_WRITES": "off"}


@pytest.fixture
def pooled_server(tmp_path: Path, postgres: pg_databases.Database) -> Iterator[Server]:
    assert postgres.pooled
    with running_server(tmp_path / "served", postgres.app_url, UNLIMITED) as server:
        yield server


def test_the_pooler_runs_the_documented_configuration(pgbouncer: PgBouncer) -> None:
    documented = recipe("pgbouncer.ini")
    assert "pool_mode = transaction" in documented
    assert pgbouncer.ini.read_text() == Template(documented).substitute(pgbouncer.settings)


class Owner:
    """One user's view of its tasks: what the server acknowledged, and every answer it gave."""

    def __init__(self, http: httpx.AsyncClient, index: int, seed: int) -> None:
        self.id = f"load-{index}"
        self.http = http
        self.headers = {"Authorization": f"Bearer {mint(self.id, ttl=600)}"}
        self.tasks: dict[int, dict[str, Any]] = {}
        self.statuses: Counter[int] = Counter()
        self.random = random.Random(seed)  # noqa: S311 (a repeatable load, not a secret)

    async def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        """The answer, or None when the connection broke without one (counted as status 0)."""
        try:
            answer = await self.http.request(
                method, f"/api/{self.id}/tasks{path}", headers=self.headers, **kwargs
            )
        except httpx.TransportError:
            self.statuses[NO_ANSWER] += 1
            return None
        self.statuses[answer.status_code] += 1
        return answer

    async def status(self, method: str, path: str, **kwargs: Any) -> int:
        answer = await self.send(method, path, **kwargs)
        return NO_ANSWER if answer is None else answer.status_code

    async def step(self, n: int) -> None:
        mine = list(self.tasks)
        roll = self.random.random()
        if not mine or roll < 0.25:
            answer = await self.send("POST", "", json={"title": f"{self.id} #{n}"})
            if answer is not None and answer.status_code == 201:
                body = answer.json()
                self.tasks[body["id"]] = {"title": body["title"], "completed": False}
        elif roll < 0.55:
            await self.send("GET", "", params={"limit": 20})
        elif roll < 0.75:
            await self.send("GET", f"/{self.random.choice(mine)}")
        elif roll < 0.90:
            task_id = self.random.choice(mine)
            change = {"title": f"{self.id} renamed #{n}", "completed": n % 2 == 0}
            if await self.status("PATCH", f"/{task_id}", json=change) == 200:
                self.tasks[task_id] = change
        else:
            task_id = self.random.choice(mine)
            if await self.status("DELETE", f"/{task_id}") == 204:
                del self.tasks[task_id]

    async def stored(self) -> dict[int, dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            answer = await self.send("GET", "", params=params)
            assert answer is not None
            assert answer.status_code == 200
            page = answer.json()
            for task in page["items"]:
                found[task["id"]] = {"title": task["title"], "completed": task["completed"]}
            cursor = page["next_cursor"]
            if cursor is None:
                return found


class Intruder(Owner):
    """A ninth user who, all through the load, reads, changes and deletes the others' tasks by id
    through its own path: each must be the same 404 as a missing task."""

    async def probe(self, owners: list[Owner], n: int) -> None:
        tasks = [task_id for owner in owners for task_id in owner.tasks]
        if not tasks:
            await self.send("GET", "")
            return
        task_id = self.random.choice(tasks)
        method = ("GET", "PATCH", "DELETE")[n % 3]
        body = {"json": {"title": "not yours"}} if method == "PATCH" else {}
        await self.send(method, f"/{task_id}", **body)


@pytest.mark.parametrize("postgres", ["pooled"], indirect=True)
async def test_a_mixed_load_through_the_pooler_has_no_5xx_keeps_every_write_and_users_apart(
    pooled_server: Server,
) -> None:
    async with httpx.AsyncClient(base_url=pooled_server.base, timeout=30) as http:
        owners = [Owner(http, index, seed=index) for index in range(USERS)]
        intruder = Intruder(http, USERS, seed=USERS)

        async def run(owner: Owner) -> None:
            for n in range(REQUESTS_PER_USER):
                await owner.step(n)

        async def intrude() -> None:
            for n in range(REQUESTS_PER_USER):
                await intruder.probe(owners, n)

        await asyncio.gather(*(run(owner) for owner in owners), intrude())
        statuses = sum((owner.statuses for owner in owners), Counter[int]())
        assert sum(statuses.values()) == USERS * REQUESTS_PER_USER
        failed = {code: n for code, n in statuses.items() if code >= 500 or code == NO_ANSWER}
        assert failed == {}, statuses
        assert set(intruder.statuses) <= {200, 404}, intruder.statuses  # 200: its own empty list
        assert intruder.statuses[404] > REQUESTS_PER_USER // 2  # it did probe
        for owner in owners:
            assert await owner.stored() == owner.tasks, owner.id
