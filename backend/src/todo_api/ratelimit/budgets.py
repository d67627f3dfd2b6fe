"""Per-user request budgets, charged right after authentication and before the body is read
(called by middleware.pipeline)."""

from __future__ import annotations

from starlette.responses import Response

from todo_api.ratelimit.limiter import Limiter
from todo_api.ratelimit.policy import Policy, Usage
from todo_api.ratelimit.responses import too_many_requests

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class UserBudgets:
    """`requests` counts every authenticated request of a user (the token's `sub`); `writes`
    counts their writes in addition. Health probes and unauthenticated requests are never
    charged (the auth-failure throttle covers the latter)."""

    def __init__(self, limiter: Limiter, *, requests: Policy | None, writes: Policy | None) -> None:
        self.limiter = limiter
        self.reads = tuple(p for p in (requests,) if p is not None)
        self.writes = tuple(p for p in (requests, writes) if p is not None)

    async def charge(self, user_id: str, method: str) -> list[Usage] | Response:
        """The usages that counted this request (for its RateLimit fields), or the 429 that
        refuses it. A store that fails leaves its policy out: served uncounted."""
        usages: list[Usage] = []
        for policy in self.writes if method in WRITE_METHODS else self.reads:
            usage = await self.limiter.hit(policy, user_id)
            if usage is None:
                continue
            usages.append(usage)
            if not usage.allowed:
                return too_many_requests(usage, usages)
        return usages
