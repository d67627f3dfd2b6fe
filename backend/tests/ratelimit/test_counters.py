"""ratelimit/counters.py in a real Redis: a window opens at the first hit, counts exactly, and a key
without expiry heals."""

from __future__ import annotations

import os
import secrets
import time

import pytest
from redis.asyncio import Redis

from todo_api.ratelimit.counters import MemoryCounters, RedisCounters

pytestmark = pytest.mark.anyio


REDIS = os.environ.get("TEST_REDIS_URL")


needs_redis = pytest.mark.skipif(
    REDIS is None, reason="needs Redis: set TEST_REDIS_URL (`.ci/run` does)"
)


@needs_redis
async def test_redis_counters_count_open_a_window_and_heal_a_key_without_expiry() -> None:
    """One script a hit: the count, and the window's end set on the first hit only."""
    assert REDIS is not None
    counters = RedisCounters(REDIS)
    key = f"todo-api/test/{secrets.token_hex(6)}"
    started = time.time()
    assert await counters.peek(key) == (0, pytest.approx(started, abs=1))
    first = await counters.incr(key, 60)
    assert first == (1, pytest.approx(started + 60, abs=1))
    # Later hits count in the same window: they do not move its end (5 s left here).
    client = Redis.from_url(REDIS)
    await client.pexpire(key, 5000)
    second = await counters.incr(key, 60)
    assert second == (2, pytest.approx(time.time() + 5, abs=1))
    assert (await counters.peek(key)) == (2, pytest.approx(time.time() + 5, abs=1))
    # A key left without an expiry (by hand, or an older counter) gets one at its next hit.
    await client.persist(key)
    assert (await counters.incr(key, 60))[1] == pytest.approx(time.time() + 60, abs=1)
    assert 0 < await client.ttl(key) <= 60
    await client.delete(key)
    await client.aclose()
    await counters.close()


def test_the_counters_name_what_the_limiter_treats_as_their_store_not_answering() -> None:
    from redis.exceptions import RedisError

    assert RedisCounters("redis://127.0.0.1:1/0").errors == (RedisError, OSError, TimeoutError)
    assert MemoryCounters().errors == (OSError, TimeoutError)
