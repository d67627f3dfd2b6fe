"""The 429 answer and the RateLimit header fields every limited response carries."""

from __future__ import annotations

from starlette.responses import Response

from todo_api.errors import RateLimited, problem_response
from todo_api.ratelimit.policy import Usage, policy_header, state_header


def rate_headers(usages: list[Usage]) -> list[tuple[bytes, bytes]]:
    """`RateLimit-Policy` and `RateLimit` for the policies that counted this request."""
    return [
        (b"ratelimit-policy", policy_header(usages).encode("latin-1")),
        (b"ratelimit", state_header(usages).encode("latin-1")),
    ]


def too_many_requests(refused: Usage, usages: list[Usage]) -> Response:
    policy = refused.policy
    error = RateLimited(
        f'The "{policy.name}" budget of {policy.rate} is spent: retry in {refused.reset_seconds} s',
        headers={
            # RFC 9110 §10.2.3 in whole seconds, never earlier than the RateLimit field's `t`.
            "Retry-After": str(refused.reset_seconds),
            "RateLimit-Policy": policy_header(usages),
            "RateLimit": state_header(usages),
        },
    )
    return problem_response(error)
