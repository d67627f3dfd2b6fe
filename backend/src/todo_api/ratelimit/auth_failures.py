"""A budget of failed authentications per client address, checked before any signature work."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import Scope

from todo_api.ratelimit.client import Network, client_address
from todo_api.ratelimit.limiter import Limiter
from todo_api.ratelimit.policy import Policy, Usage


class AuthFailureThrottle:
    """Once an address has spent its budget of 401s, requests from it whose token is not already
    verified are refused (429) without being verified: a flood of forged tokens or random `kid`s
    then costs a lookup each, not a signature check or a JWKS refetch."""

    def __init__(self, limiter: Limiter, policy: Policy, trusted_proxies: Sequence[Network]):
        self.limiter = limiter
        self.policy = policy
        self.trusted_proxies = tuple(trusted_proxies)

    def address(self, scope: Scope) -> str:
        return client_address(scope, self.trusted_proxies)

    async def refusal(self, address: str) -> Usage | None:
        """The spent budget's state if this address is refused, else None."""
        usage = await self.limiter.peek(self.policy, address)
        return usage if usage is not None and not usage.allowed else None

    async def failed(self, address: str) -> Usage | None:
        """Count one failed authentication; the budget's state for the 401's headers."""
        return await self.limiter.hit(self.policy, address)
