"""The safe-write probes, shared by the integration tests and the suite's broken variants: writers
holding one ETag race, and exactly one of them may win; senders of one Idempotency-Key race, and
exactly one task may be made."""

from __future__ import annotations

import uuid

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


async def duplicate_create_findings(
    clients: list[httpx.AsyncClient], user: User, *, senders: int = 20, rounds: int = 2
) -> list[str]:
    """Per round: `senders` concurrent POSTs with one fresh Idempotency-Key and one body, spread
    over the clients (the instances). Each answer must be a 201 with the one task (replays marked
    `Idempotent-Replayed: true`) or a 409 idempotency-key-in-flight; exactly one task must exist
    afterwards, and a later retry must get that task again."""
    findings: list[str] = []
    base = f"/api/{user.id}/tasks"
    for round_ in range(rounds):
        title = f"once {round_} {uuid.uuid4()}"
        headers = user.headers | {"Idempotency-Key": f"probe-{uuid.uuid4()}"}
        answers = await _send_at_once(clients, base, {"title": title}, headers, senders)
        created = [a for a in answers if a.status_code == 201]
        others = [a for a in answers if a.status_code != 201]
        for answer in others:
            kind = answer.json().get("type", "") if answer.status_code == 409 else ""
            if not kind.endswith(":idempotency-key-in-flight"):
                findings.append(f"round {round_}: a sender got {answer.status_code} {kind}")
        ids = {a.json()["id"] for a in created}
        if len(ids) != 1:
            findings.append(f"round {round_}: {len(created)} created answers name tasks {ids}")
        if sum(a.headers.get("idempotent-replayed") != "true" for a in created) > 1:
            findings.append(f"round {round_}: more than one answer is not a replay")
        made = await _count_titled(clients[0], user, title)
        if made != 1:
            findings.append(f"round {round_}: {senders} sends with one key made {made} tasks")
        retry = await clients[-1].post(base, json={"title": title}, headers=headers)
        if retry.status_code != 201 or retry.headers.get("idempotent-replayed") != "true":
            findings.append(f"round {round_}: the retry after all got {retry.status_code}")
        elif created and retry.json() != created[0].json():
            findings.append(f"round {round_}: the retry's body differs from the first answer")
    return findings


async def _send_at_once(
    clients: list[httpx.AsyncClient],
    url: str,
    body: dict[str, str],
    headers: dict[str, str],
    senders: int,
) -> list[httpx.Response]:
    answers: list[httpx.Response] = []

    async def send(i: int) -> None:
        answers.append(await clients[i % len(clients)].post(url, json=body, headers=headers))

    async with anyio.create_task_group() as group:
        for i in range(senders):
            group.start_soon(send, i)
    return answers


async def _count_titled(client: httpx.AsyncClient, user: User, title: str) -> int:
    count, cursor = 0, None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = await client.get(f"/api/{user.id}/tasks", params=params, headers=user.headers)
        assert page.status_code == 200, page.text
        count += sum(task["title"] == title for task in page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return count
