"""The abuse limits under Schemathesis: the budgets of a fuzz run, a check that any 429 is a
well-formed answer, and one that every write verb spends the writes budget (registered by
importing this module; st_hooks does).

Fuzz runs keep every limit in force (counted, announced in the RateLimit fields) with budgets no
run reaches: the replays of `unauthenticated_replays` alone are six failed authentications per
case from one address, far past the default 30 a minute. Whether a budget is exact is proved by
the integration tests (backend/tests/ratelimit/test_middleware.py), not by fuzzing.
"""

from __future__ import annotations

import re
from typing import Any

import schemathesis
from schemathesis import Case, Response

FUZZ_LIMITS = {
    "RATE_LIMIT": "1000000/hour",
    "RATE_LIMIT_WRITES": "1000000/hour",
    "RATE_LIMIT_AUTH_FAILURES": "1000000/hour",
}
_STATE = re.compile(r'"([a-z-]+)";r=([0-9]+);t=([0-9]+)')


def _header(response: Response, name: str) -> str | None:
    values = response.headers.get(name.lower())
    return values[0] if values else None


@schemathesis.check
def rate_limited_answers_are_well_formed(ctx: Any, response: Response, case: Case) -> bool | None:
    """A 429 names the spent budget: problem+json, Retry-After in whole seconds, and a RateLimit
    field where that budget has nothing left and resets no later than Retry-After says."""
    if response.status_code != 429:
        return True
    assert _header(response, "content-type") == "application/problem+json", "429 not a problem"
    assert response.json()["type"] == "urn:todo-api:problem:rate-limited", "429 of another type"
    retry_after = _header(response, "retry-after") or ""
    assert re.fullmatch(r"[1-9][0-9]*", retry_after), f"Retry-After {retry_after!r}"
    states = _STATE.findall(_header(response, "ratelimit") or "")
    spent = [(name, int(t)) for name, r, t in states if r == "0"]
    assert spent, "a 429 whose RateLimit field shows no spent budget"
    assert any(t <= int(retry_after) for _, t in spent), "Retry-After earlier than the reset"
    return None


_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@schemathesis.check
def writes_count_against_the_writes_budget(ctx: Any, response: Response, case: Case) -> bool | None:
    """Every write verb spends the `writes` budget, and a read does not: an answer that announces
    the budgets it counted (RateLimit-Policy, i.e. an authenticated request) names `writes` if and
    only if its method writes. The runs configure both budgets (FUZZ_LIMITS)."""
    announced = _header(response, "ratelimit-policy")
    if announced is None or response.status_code == 429:
        return True
    names = set(re.findall(r'"([a-z-]+)"', announced))
    if "requests" not in names:  # the failed-auth throttle's answer: nobody was authenticated
        return True
    counted = "writes" in names
    assert counted == (case.method in _WRITES), (
        f"{case.method} {case.formatted_path} counted against {sorted(names)}: "
        + ("a read spent the writes budget" if counted else "a write not counted as a write")
    )
    return None
