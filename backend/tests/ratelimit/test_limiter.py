"""ratelimit/limiter.py: when the counters' store stops answering, requests are served, counted in
memory, and the outage said once."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from fixtures.api import User, asgi_client, make_settings
from fixtures.limits import Clock, served
from fixtures.live_server import free_port
from todo_api.ratelimit.limiter import Limiter
from todo_api.settings import Settings

pytestmark = pytest.mark.anyio


async def test_redis_down_serves_requests_counts_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, alice: User
) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    settings = make_settings(tmp_path, RATE_LIMIT="1/minute", RATE_LIMIT_STORAGE_URL=down)
    # After a failure the store is skipped for a second: 2 s between requests, so each one
    # tries the store (the throttle's look-up on the first, the user's budget on all).
    clock = Clock()
    limiter = Limiter(_counters_of(settings), monotonic=clock)
    caplog.set_level(logging.INFO, logger="todo_api")
    responses = []
    async with served(settings, limiter) as app, asgi_client(app) as client:
        for _ in range(5):
            responses.append(await client.get("/api/alice/tasks", headers=alice.headers))
            clock.now += 2
    assert [r.status_code for r in responses] == [200] * 5
    assert all("ratelimit" not in r.headers for r in responses)
    assert limiter.store_failures == 6
    # Down at start: the start's warning, and no error line per request after it.
    said = [r for r in caplog.records if getattr(r, "dependency", None) == "rate_limit_store"]
    assert [r.levelname for r in said] == ["WARNING"]
    assert "RATE_LIMIT_STORAGE_URL" in said[0].getMessage()


def _counters_of(settings: Settings) -> Any:
    from todo_api.ratelimit.counters import make_counters

    return make_counters(settings.rate_limit_storage_url)
