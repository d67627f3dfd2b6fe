"""Count requests against policies, and fail open when the counters' store does not answer."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from redis.exceptions import RedisError

from todo_api.ratelimit.counters import Counters
from todo_api.ratelimit.policy import Policy, Usage

log = logging.getLogger("todo_api.ratelimit")

# After a store failure, requests go uncounted for this long before the store is tried again: a
# down or hung Redis costs one timeout a second, not one per request.
RETRY_STORE_SECONDS = 1.0
WARN_EVERY_SECONDS = 60.0


class Limiter:
    """Hits per (policy, key). `None` from `hit`/`peek` means "not counted": the store failed and
    the request is served (availability over a budget that cannot be read)."""

    def __init__(
        self,
        counters: Counters,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._counters = counters
        self._clock = clock
        self._monotonic = monotonic
        self._retry_at = 0.0
        self._warned_at: float | None = None
        self.store_failures = 0  # for operators (metrics): requests served uncounted

    async def hit(self, policy: Policy, key: str) -> Usage | None:
        """Count one request; `allowed` is False once the window's budget is spent."""
        if self._monotonic() < self._retry_at:
            self.store_failures += 1
            return None
        try:
            count, ends_at = await self._counters.incr(_key(policy, key), policy.rate.seconds)
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return None
        return self._usage(policy, count, ends_at, allowed=count <= policy.rate.amount)

    async def peek(self, policy: Policy, key: str) -> Usage | None:
        """The budget's state without counting; `allowed` is False when it is spent."""
        if self._monotonic() < self._retry_at:
            self.store_failures += 1
            return None
        try:
            count, ends_at = await self._counters.peek(_key(policy, key))
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return None
        return self._usage(policy, count, ends_at, allowed=count < policy.rate.amount)

    async def close(self) -> None:
        await self._counters.close()

    def _usage(self, policy: Policy, count: int, ends_at: float, *, allowed: bool) -> Usage:
        remaining = max(policy.rate.amount - count, 0)
        # Whole seconds, at least 1: Retry-After and `t=` never say "now" while still refusing.
        reset = max(1, math.ceil(ends_at - self._clock()))
        return Usage(policy, allowed, remaining, min(reset, policy.rate.seconds))

    def _failed(self, exc: BaseException) -> None:
        self.store_failures += 1
        now = self._monotonic()
        self._retry_at = now + RETRY_STORE_SECONDS
        if self._warned_at is None or now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning(
                "rate limit store unavailable: serving requests uncounted",
                extra={"error": type(exc).__name__, "uncounted": self.store_failures},
            )


def _key(policy: Policy, key: str) -> str:
    return f"todo-api/{policy.name}/{key}"
