"""The verified caller as a typed FastAPI dependency, and the path ownership rule."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Request

from todo_api.auth.tokens import USER_ID_MAX_LENGTH, USER_ID_PATTERN, Claims
from todo_api.errors import Forbidden, InvalidToken
from todo_api.scope import IDENTITY_KEY


class Identity:
    """Who is calling, as established by the authentication middleware."""

    __slots__ = ("email", "email_verified", "expires_at", "name", "user_id")

    def __init__(
        self,
        user_id: str,
        email: str | None,
        name: str | None,
        expires_at: datetime,
        email_verified: bool | None = None,
    ):
        self.user_id = user_id
        self.email = email
        self.name = name
        self.expires_at = expires_at
        self.email_verified = email_verified

    @classmethod
    def from_claims(cls, claims: Claims) -> Identity:
        return cls(
            claims.subject, claims.email, claims.name, claims.expires_at, claims.email_verified
        )


# `async def` on purpose, here and below: no I/O, so FastAPI runs them on the event loop instead
# of sending each to the thread pool (two hops per request saved; see docs/benchmarks.md).
async def current_user(request: Request) -> Identity:
    identity = request.scope.get("state", {}).get(IDENTITY_KEY)
    if not isinstance(identity, Identity):
        # Only reachable if a protected route were mounted outside the middleware's prefix.
        raise InvalidToken("missing bearer token", token_sent=False)
    return identity


CurrentUser = Annotated[Identity, Depends(current_user)]

UserIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=USER_ID_MAX_LENGTH,
        pattern=USER_ID_PATTERN.pattern,
        description="The owner's user id; must equal the token's `sub`.",
    ),
]


async def path_owner(user_id: UserIdPath, identity: CurrentUser) -> Identity:
    if user_id != identity.user_id:
        # Same answer whether that other user exists or not: nothing to learn from a 403.
        raise Forbidden("You can only access your own tasks")
    return identity


Owner = Annotated[Identity, Depends(path_owner)]
