"""Fixed-window hit counters: in the process (`memory://`) or shared by every instance (Redis).

A window opens at a key's first hit and lasts the policy's period; the count is exact within it.
Redis is reached through `limits` (its storage handles the URL schemes, the pool, and counts
with one INCR-and-EXPIRE script); the in-process counters are our own (research A1).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from limits.aio.storage import Storage
from limits.storage import storage_from_string

# A store that does not answer within this is treated as down (fail open): a hung Redis must not
# hold requests.
REDIS_TIMEOUT_SECONDS = 0.5


class Counters(Protocol):
    async def incr(self, key: str, window_seconds: int) -> tuple[int, float]:
        """Count one hit; the key's count in its window and when the window ends (epoch s)."""
        ...

    async def peek(self, key: str) -> tuple[int, float]:
        """The count and window end without counting (0 when no window is open)."""
        ...


class MemoryCounters:
    """Counters of this process: O(1) a hit, expired windows swept at most once a minute.

    Only the event loop's thread uses them (no lock). With several workers or instances each has
    its own: use Redis to share one budget.
    """

    SWEEP_SECONDS = 60.0

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

    def _sweep(self, now: float) -> None:
        self._windows = {key: w for key, w in self._windows.items() if w[1] > now}
        self._next_sweep = now + self.SWEEP_SECONDS


class RedisCounters:
    """Counters in Redis (`redis://host:port/db`, `rediss://…`): one budget for all instances."""

    def __init__(self, url: str) -> None:
        storage = storage_from_string(
            f"async+{url}",
            implementation="redispy",
            wrap_exceptions=True,  # every failure is limits.errors.StorageError
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        assert isinstance(storage, Storage)
        self._storage = storage

    async def incr(self, key: str, window_seconds: int) -> tuple[int, float]:
        count = await self._storage.incr(key, window_seconds)
        return count, await self._storage.get_expiry(key)

    async def peek(self, key: str) -> tuple[int, float]:
        count = await self._storage.get(key)
        return count, await self._storage.get_expiry(key) if count else time.time()


def make_counters(url: str) -> Counters:
    """`memory://` or a Redis URL (RATE_LIMIT_STORAGE_URL, validated by the settings)."""
    if url == "memory://":
        return MemoryCounters()
    return RedisCounters(url)
