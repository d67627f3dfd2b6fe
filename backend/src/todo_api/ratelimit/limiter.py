"""Count requests against policies, and fail open when the counters' store does not answer."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from todo_api.dependencies import RATE_LIMIT_STORE, Dependency, reason_of
from todo_api.ratelimit.counters import Counters
from todo_api.ratelimit.policy import Policy, Usage

# After a store failure, requests go uncounted for this long before the store is tried again: a
# down or hung Redis costs one timeout a second, not one per request.
RETRY_STORE_SECONDS = 1.0


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
        self._store_errors = counters.errors
        self._clock = clock
        self._monotonic = monotonic
        self._retry_at = 0.0
        self.store_failures = 0  # requests served uncounted
        # Down: one error line; back: one info line (dependencies.py).
        self.store = Dependency(RATE_LIMIT_STORE, clock=monotonic)

    async def hit(self, policy: Policy, key: str) -> Usage | None:
        """Count one request; `allowed` is False once the window's budget is spent."""
        if self._monotonic() < self._retry_at:
            self.store_failures += 1
            return None
        try:
            count, ends_at = await self._counters.incr(_key(policy, key), policy.rate.seconds)
        except self._store_errors as exc:
            self._failed(exc)
            return None
        if not self.store.up:
            self.store.recovered()
        return self._usage(policy, count, ends_at, allowed=count <= policy.rate.amount)

    async def peek(self, policy: Policy, key: str) -> Usage | None:
        """The budget's state without counting; `allowed` is False when it is spent."""
        if self._monotonic() < self._retry_at:
            self.store_failures += 1
            return None
        try:
            count, ends_at = await self._counters.peek(_key(policy, key))
        except self._store_errors as exc:
            self._failed(exc)
            return None
        if not self.store.up:
            self.store.recovered()
        return self._usage(policy, count, ends_at, allowed=count < policy.rate.amount)

    async def check(self) -> str | None:
        """At start: why the store does not answer, or None. The store is then down (the gauge
        says 0) without an error line: the caller says it, once, its own way."""
        try:
            await self._counters.ping()
        except self._store_errors as exc:
            reason = reason_of(exc)
            self._retry_at = self._monotonic() + RETRY_STORE_SECONDS
            self.store.failed(reason, announce=False)
            return reason
        return None

    async def close(self) -> None:
        await self._counters.close()

    def _usage(self, policy: Policy, count: int, ends_at: float, *, allowed: bool) -> Usage:
        remaining = max(policy.rate.amount - count, 0)
        # Whole seconds, at least 1: Retry-After and `t=` never say "now" while still refusing.
        reset = max(1, math.ceil(ends_at - self._clock()))
        return Usage(policy, allowed, remaining, min(reset, policy.rate.seconds))

    def _failed(self, exc: BaseException) -> None:
        self.store_failures += 1
        self._retry_at = self._monotonic() + RETRY_STORE_SECONDS
        self.store.failed(reason_of(exc))


def _key(policy: Policy, key: str) -> str:
    return f"todo-api/{policy.name}/{key}"
