"""Pure ASGI: per-user request budgets, right after authentication and before the body is read."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_api.ratelimit.limiter import Limiter
from todo_api.ratelimit.policy import Policy, Usage
from todo_api.ratelimit.responses import rate_headers, too_many_requests
from todo_api.scope import IDENTITY_KEY

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class UserRateLimitMiddleware:
    """`requests` counts every authenticated request of a user (the token's `sub`); `writes`
    counts their writes in addition. Health probes and unauthenticated requests never get here
    with an identity, so they are not counted (the auth-failure throttle covers the latter)."""

    def __init__(
        self,
        app: ASGIApp,
        limiter: Limiter,
        *,
        requests: Policy | None,
        writes: Policy | None,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.reads = tuple(p for p in (requests,) if p is not None)
        self.writes = tuple(p for p in (requests, writes) if p is not None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        identity = scope.get("state", {}).get(IDENTITY_KEY) if scope["type"] == "http" else None
        if identity is None:
            await self.app(scope, receive, send)
            return

        usages: list[Usage] = []
        for policy in self.writes if scope["method"] in WRITE_METHODS else self.reads:
            usage = await self.limiter.hit(policy, identity.user_id)
            if usage is None:  # the store failed: served uncounted
                continue
            usages.append(usage)
            if not usage.allowed:
                await too_many_requests(usage, usages)(scope, receive, send)
                return
        if not usages:
            await self.app(scope, receive, send)
            return

        headers = rate_headers(usages)

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *headers]
            await send(message)

        await self.app(scope, receive, send_with_limits)
