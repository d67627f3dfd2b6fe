"""Schemathesis hooks for this API, shared by the in-process suite and the CLI run
(`hooks = "st_hooks"`): the ownership checks (the schemathesis-ownership package in
packages/, driven by the spec's `x-owner`, `x-resource-id` and `x-lists`), registered and told
how to mint this API's tokens with the test secret.
"""

from __future__ import annotations

import os
import time
from typing import Any

import jwt

import schemathesis_ownership as ownership
import st_http_guards  # (registers the body-first and CORS checks)
import st_limits  # noqa: F401  (registers the 429 and writes-budget checks)
import st_lists  # noqa: F401  (keeps drawn cursors with the sort they continue)
import st_safe_writes  # noqa: F401  (registers the stale If-Match check)
from fixtures.keys import OTHER_SECRET, SECRET

# The fuzzed apps check an issuer and an audience, so that the forged tokens below carry the
# weight of those checks too (an audience when none is configured is the integration tests',
# test_auth_matrix.py), and list one CORS origin for st_http_guards' check.
ISSUER = "http://127.0.0.1:3000"
AUDIENCE = "http://127.0.0.1:8000"
FUZZ_SETTINGS = {
    "AUTH_ISSUER": ISSUER,
    "AUTH_AUDIENCE": AUDIENCE,
    "CORS_ORIGINS": st_http_guards.LISTED_ORIGIN,
}


def token_for(
    sub: str, *, secret: str = SECRET, ttl: int = 600, omit: tuple[str, ...] = (), **claims: Any
) -> str:
    now = int(time.time())
    payload = {"sub": sub, "iat": now, "exp": now + ttl, "iss": ISSUER, "aud": AUDIENCE, **claims}
    for name in omit:
        payload.pop(name)
    return jwt.encode(payload, secret, algorithm="HS256")


def forged(sub: str) -> dict[str, str]:
    """Bad tokens only the issuer's side can make (signed with the right secret, or expired):
    the generic ones (unsigned, tampered, not a JWT) come from the package."""
    return {
        "expired": token_for(sub, ttl=-3600),
        "other secret": token_for(sub, secret=OTHER_SECRET),
        "no exp": token_for(sub, omit=("exp",)),
        "no sub": token_for(sub, omit=("sub",)),
        "another issuer": token_for(sub, iss="http://127.0.0.1:3001"),
        "no issuer": token_for(sub, omit=("iss",)),
        "another audience": token_for(sub, aud="http://127.0.0.1:8001"),
        "no audience": token_for(sub, omit=("aud",)),
    }


TASKS_API = ownership.Ownership(
    mint=token_for,
    forged=forged,
    # This API's 422 problems list the rejected inputs under `errors` (spec: Problem).
    problem_members=ownership.PROBLEM_MEMBERS | {"errors"},
    # `make fuzz` replays every bad credential on every case (ST_REPLAYS=all).
    replays=os.environ.get("ST_REPLAYS", "rotating"),
)
ownership.register()
ownership.use(TASKS_API)
