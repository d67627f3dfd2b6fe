"""Schemathesis hooks for this API, shared by the in-process suite and the CLI run
(`hooks = "st_hooks"`): the ownership checks (the schemathesis-ownership package in
packages/, driven by the spec's `x-owner`, `x-resource-id` and `x-lists`), registered and told
how to mint this API's tokens with the test secret.
"""

from __future__ import annotations

import time

import jwt

import schemathesis_ownership as ownership
import st_limits  # noqa: F401  (registers the 429 check)
import st_lists  # noqa: F401  (keeps drawn cursors with the sort they continue)
import st_safe_writes  # noqa: F401  (registers the stale If-Match check)
from api_fixtures import OTHER_SECRET, SECRET


def token_for(sub: str, *, secret: str = SECRET, ttl: int = 600) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + ttl}, secret, algorithm="HS256")


def forged(sub: str) -> dict[str, str]:
    """Bad tokens only the issuer's side can make: the generic ones come from the package."""
    return {
        "expired": token_for(sub, ttl=-3600),
        "other secret": token_for(sub, secret=OTHER_SECRET),
    }


TASKS_API = ownership.Ownership(
    mint=token_for,
    forged=forged,
    # This API's 422 problems list the rejected inputs under `errors` (spec: Problem).
    problem_members=ownership.PROBLEM_MEMBERS | {"errors"},
)
ownership.register()
ownership.use(TASKS_API)
