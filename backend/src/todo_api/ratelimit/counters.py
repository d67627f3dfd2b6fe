"""Fixed-window hit counters: in the process (`memory://`) or shared by every instance (Redis).

A window opens at a key's first hit and lasts the policy's period; the count is exact within it.
Both are our own (research A1): in Redis, one script counts and reads the window's end in one
round trip, through redis-py's asyncio client.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from redis.asyncio import Redis

# A store that does not answer within this is treated as down (fail open): a hung Redis must not
# hold requests.
REDIS_TIMEOUT_SECONDS = 0.5


class Counters(Protocol):
    # What the store raises when it does not answer: the limiter fails open on these. Each kind
    # names its own, so that redis-py is imported only by a server that counts in Redis.
    errors: tuple[type[Exception], ...]

    async def incr(self, key: str, window_seconds: int) -> tuple[int, float]:
        """Count one hit; the key's count in its window and when the window ends (epoch s)."""
        ...

    async def peek(self, key: str) -> tuple[int, float]:
        """The count and window end without counting (0 when no window is open)."""
        ...

    async def ping(self) -> None:
        """Raise when the store does not answer (checked at start)."""
        ...

    async def close(self) -> None:
        """Let go of connections (at shutdown)."""
        ...


class MemoryCounters:
    """Counters of this process: O(1) a hit, expired windows swept at most once a minute.

    Only the event loop's thread uses them (no lock). With several workers or instances each has
    its own: use Redis to share one budget.
    """

    SWEEP_SECONDS = 60.0
    errors: tuple[type[Exception], ...] = (OSError, TimeoutError)

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._windows: dict[str, list[float]] = {}  # key -> [count, ends_at]
        self._next_sweep = clock() + self.SWEEP_SECONDS

    def __len__(self) -> int:
        return len(self._windows)

    async def incr(self, key: str, window_seconds: int) -> tuple[int, float]:
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        window = self._windows.get(key)
        if window is None or window[1] <= now:
            window = self._windows[key] = [0, now + window_seconds]
        window[0] += 1
        return int(window[0]), window[1]

    async def peek(self, key: str) -> tuple[int, float]:
        now = self._clock()
        window = self._windows.get(key)
        if window is None or window[1] <= now:
            return 0, now
        return int(window[0]), window[1]

    async def ping(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def _sweep(self, now: float) -> None:
        self._windows = {key: w for key, w in self._windows.items() if w[1] > now}
        self._next_sweep = now + self.SWEEP_SECONDS


# One round trip a hit: count, open the window on the first hit (or heal a key left without an
# expiry), and say when it ends. A script runs atomically, so no two hits both see count 1.
_INCR = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""
_PEEK = """
return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('PTTL', KEYS[1])}
"""


class RedisCounters:
    """Counters in Redis (`redis://host:port/db`, `rediss://…`): one budget for all instances.

    Each hit or peek is one script call (EVALSHA; redis-py sends the script once on NOSCRIPT).
    Failures surface as redis.exceptions.RedisError, or OSError and TimeoutError underneath.
    """

    def __init__(self, url: str) -> None:
        from redis.asyncio import Redis
        from redis.exceptions import RedisError

        self.errors: tuple[type[Exception], ...] = (RedisError, OSError, TimeoutError)
        self._client: Redis = Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        self._incr = self._client.register_script(_INCR)
        self._peek = self._client.register_script(_PEEK)

    async def incr(self, key: str, window_seconds: int) -> tuple[int, float]:
        count, ttl_ms = await self._incr(keys=[key], args=[window_seconds * 1000])
        return int(count), time.time() + int(ttl_ms) / 1000

    async def peek(self, key: str) -> tuple[int, float]:
        count, ttl_ms = await self._peek(keys=[key])
        return int(count), time.time() + max(int(ttl_ms), 0) / 1000

    async def ping(self) -> None:
        # redis-py types ping() for its sync and asyncio clients at once.
        await cast(Awaitable[bool], self._client.ping())

    async def close(self) -> None:
        await self._client.aclose()


def make_counters(url: str) -> Counters:
    """`memory://` or a Redis URL (RATE_LIMIT_STORAGE_URL, validated by the settings)."""
    if url == "memory://":
        return MemoryCounters()
    return RedisCounters(url)
