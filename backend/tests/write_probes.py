"""The lost-update probe, shared by the integration tests and the suite's broken variants: writers
holding one ETag race, and exactly one of them may win."""

from __future__ import annotations

import anyio
import httpx

from api_fixtures import User


async def _race(
    clients: list[httpx.AsyncClient], user: User, url: str, tag: str, writers: int
) -> list[int]:
    statuses: list[int] = []

    async def write(i: int) -> None:
        answer = await clients[i % len(clients)].patch(
            url, json={"title": f"writer {i}"}, headers=user.headers | {"If-Match": tag}
        )
        statuses.append(answer.status_code)

    async with anyio.create_task_group() as group:
        for i in range(writers):
            group.start_soon(write, i)
    return statuses


async def lost_update_findings(
    clients: list[httpx.AsyncClient], user: User, *, rounds: int = 6, writers: int = 2
) -> list[str]:
    """Per round: a fresh task, then `writers` concurrent PATCHes with its one ETag (spread over
    the clients, i.e. the instances). Anything but one 200 and the rest 412, or a task that is
    not at version 2 afterwards, is a finding."""
    findings: list[str] = []
    base = f"/api/{user.id}/tasks"
    for round_ in range(rounds):
        created = await clients[0].post(base, json={"title": "race"}, headers=user.headers)
        assert created.status_code == 201, created.text
        url, tag = f"{base}/{created.json()['id']}", created.headers["etag"]
        statuses = sorted(await _race(clients, user, url, tag, writers))
        if statuses != [200] + [412] * (writers - 1):
            findings.append(f"round {round_}: {writers} writers with one If-Match got {statuses}")
        final = (await clients[0].get(url, headers=user.headers)).json()
        if final["version"] != 2:
            findings.append(f"round {round_}: the task ended at version {final['version']}, not 2")
    return findings
