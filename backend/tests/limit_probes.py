"""Probes of the abuse limits, as functions that return what they found wrong (empty: nothing).

The integration tests run them on the real app (tests/integration/test_rate_limits.py), and the
contract suite runs them on broken variants to show that they bite (test_suite_bites.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from api_fixtures import OTHER_SECRET, User, mint
from todo_api.auth.tokens import TokenVerifier


async def budget_findings(client: httpx.AsyncClient, user: User, amount: int) -> list[str]:
    """`amount` requests pass, the next is a well-formed 429 for the spent budget."""
    found: list[str] = []
    path = f"/api/{user.id}/tasks"
    for i in range(1, amount + 1):
        response = await client.get(path, headers=user.headers)
        if response.status_code != 200:
            found.append(f"request {i} of a budget of {amount} answered {response.status_code}")
    over = await client.get(path, headers=user.headers)
    if over.status_code != 429:
        return [*found, f"request {amount + 1} answered {over.status_code}, not 429"]
    if over.headers.get("content-type") != "application/problem+json":
        found.append("the 429 is not problem+json")
    retry_after = over.headers.get("retry-after", "")
    if not retry_after.isdigit() or int(retry_after) < 1:
        found.append(f"the 429's Retry-After is {retry_after!r}")
    if ";r=0;" not in over.headers.get("ratelimit", ""):
        found.append(f"the 429's RateLimit field is {over.headers.get('ratelimit')!r}")
    return found


async def quota_findings(
    clients: list[httpx.AsyncClient], user: User, max_tasks: int, creates: int = 50
) -> list[str]:
    """With the user one task short of the quota, `creates` concurrent creates (spread over the
    clients: one per instance) make exactly one task; the others are 409, and nothing more."""
    body = {"title": "the last one"}
    responses = await asyncio.gather(
        *(
            clients[i % len(clients)].post(f"/api/{user.id}/tasks", json=body, headers=user.headers)
            for i in range(creates)
        )
    )
    statuses = sorted(response.status_code for response in responses)
    found = []
    if statuses.count(201) != 1:
        found.append(
            f"{statuses.count(201)} of {creates} concurrent creates at quota - 1 made a task"
        )
    others = [status for status in statuses if status != 201]
    if any(status != 409 for status in others):
        found.append(f"the refused creates answered {sorted(set(others))}, not only 409")
    refused = next((r for r in responses if r.status_code == 409), None)
    if refused is not None and refused.json()["type"] != "urn:todo-api:problem:quota-exceeded":
        found.append(f"the 409 is {refused.json()['type']}")
    held = await _count(clients[0], user)
    if held != max_tasks:
        found.append(f"the user holds {held} tasks, not the quota of {max_tasks}")
    return found


async def _count(client: httpx.AsyncClient, user: User) -> int:
    count, cursor = 0, None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = await client.get(f"/api/{user.id}/tasks", params=params, headers=user.headers)
        body = page.json()
        count += len(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return count


async def throttle_findings(
    client: httpx.AsyncClient, verified: User, budget: int, signature_checks: Callable[[], int]
) -> list[str]:
    """`budget` forged tokens get 401; after that forged tokens get 429 without one more
    signature check, while a token verified before keeps working."""
    found: list[str] = []
    path = f"/api/{verified.id}/tasks"
    if (await client.get(path, headers=verified.headers)).status_code != 200:
        return ["the verified user's first request failed"]
    for i in range(budget):
        forged = {"Authorization": f"Bearer {mint(verified.id, secret=OTHER_SECRET, jti=str(i))}"}
        status = (await client.get(path, headers=forged)).status_code
        if status != 401:
            found.append(f"forged token {i + 1} of a budget of {budget} answered {status}")
    checks_before = signature_checks()
    for i in range(20):
        forged = {"Authorization": f"Bearer {mint(verified.id, secret=OTHER_SECRET, n=i)}"}
        status = (await client.get(path, headers=forged)).status_code
        if status != 429:
            found.append(f"a forged token past the budget answered {status}, not 429")
            break
    if signature_checks() != checks_before:
        found.append(
            f"the throttle verified {signature_checks() - checks_before} signatures past the budget"
        )
    if (await client.get(path, headers=verified.headers)).status_code != 200:
        found.append("a token verified before was refused by the throttle")
    return found


def count_signature_checks(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """How many times the verifier itself (not its cache) checks a token from now on."""
    calls = [0]
    verify = TokenVerifier.verify

    def counting(self: TokenVerifier, token: str) -> Any:
        calls[0] += 1
        return verify(self, token)

    monkeypatch.setattr(TokenVerifier, "verify", counting)
    return lambda: calls[0]
