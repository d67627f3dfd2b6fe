"""ratelimit/auth_failures.py through the real app: spent failures refuse before any signature work,
per client address (X-Forwarded-For only from trusted proxies)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.api import User, asgi_client, make_settings, mint
from fixtures.limit_probes import (
    count_signature_checks,
    throttle_findings,
)
from fixtures.limits import served
from todo_api.ratelimit.limiter import Limiter
from todo_api.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def signature_checks(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    return count_signature_checks(monkeypatch)


async def test_spent_auth_failures_refuse_without_verifying_but_serve_a_verified_token(
    tmp_path: Path, memory_limiter: Limiter, alice: User, signature_checks: Callable[[], int]
) -> None:
    settings = make_settings(tmp_path, RATE_LIMIT_AUTH_FAILURES="4/minute")
    async with served(settings, memory_limiter) as app, asgi_client(app) as client:
        assert await throttle_findings(client, alice, 4, signature_checks) == []
        # No token at all, or a token never seen, from the spent address: refused unverified.
        bare = await client.get("/api/alice/tasks")
        fresh = await client.get("/api/me", headers={"Authorization": f"Bearer {mint('carol')}"})
    assert (bare.status_code, fresh.status_code) == (429, 429)
    assert fresh.json()["type"] == "urn:todo-api:problem:rate-limited"
    assert '"auth-failures";r=0' in fresh.headers["ratelimit"]


async def test_the_throttle_believes_x_forwarded_for_only_from_trusted_proxies(
    tmp_path: Path, alice: User
) -> None:
    forged = {"Authorization": f"Bearer {mint('alice', ttl=-600)}"}

    async def statuses(settings: Settings, addresses: list[str]) -> list[int]:
        async with served(settings) as app, asgi_client(app) as client:
            return [
                (
                    await client.get(
                        "/api/alice/tasks", headers={**forged, "X-Forwarded-For": address}
                    )
                ).status_code
                for address in addresses
            ]

    budget = {"RATE_LIMIT_AUTH_FAILURES": "2/minute"}
    # The ASGI client's peer is 127.0.0.1: trusted, each forwarded address has its own budget.
    trusted = make_settings(tmp_path, TRUSTED_PROXIES="127.0.0.0/8", **budget)
    assert await statuses(trusted, ["203.0.113.5"] * 3 + ["203.0.113.6"]) == [401, 401, 429, 401]
    # Not trusted: the header is whatever the client wrote, and the peer is the client.
    untrusted = make_settings(tmp_path, **budget)
    assert await statuses(untrusted, ["203.0.113.5", "203.0.113.6", "203.0.113.7"]) == [
        401,
        401,
        429,
    ]


async def test_a_spoofed_first_hop_does_not_escape_the_throttle_behind_trusted_proxies(
    tmp_path: Path,
) -> None:
    # Behind two trusted proxies, the client writes its own X-Forwarded-For first hop, fresh on
    # every try; the proxies append what they saw. Read right to left, the client is the address
    # the nearest untrusted hop names, and its budget is one however many first hops it invents.
    forged = {"Authorization": f"Bearer {mint('alice', ttl=-600)}"}
    settings = make_settings(
        tmp_path, TRUSTED_PROXIES="127.0.0.0/8, 10.0.0.0/8", RATE_LIMIT_AUTH_FAILURES="2/minute"
    )
    async with served(settings) as app, asgi_client(app) as client:
        statuses = [
            (
                await client.get(
                    "/api/alice/tasks",
                    headers={**forged, "X-Forwarded-For": f"198.51.100.{i}, 203.0.113.9, 10.0.0.2"},
                )
            ).status_code
            for i in range(4)
        ]
    assert statuses == [401, 401, 429, 429]
