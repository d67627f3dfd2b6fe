"""The checks' own rules, case by case: every failed property reported most severe first, an
operation whose spec says nothing about security, probes that carry the attacker's credentials
and only theirs."""

from __future__ import annotations

import copy
import functools
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

import schemathesis_ownership as ownership
from ownership_fixtures import profiles
from schemathesis_ownership.checks import ACCEPTED, MALFORMED, REFUSED_WRONGLY, Findings
from schemathesis_ownership.credentials import forged_credentials
from schemathesis_ownership.probes import as_identity


def test_every_failed_property_is_reported_most_severe_first() -> None:
    findings = Findings()
    findings.add(MALFORMED, "401 without a Bearer challenge")
    findings.add(REFUSED_WRONGLY, "garbage: 500, not 401")
    findings.add(ACCEPTED, "expired: 200, not 401: accepted")
    with pytest.raises(AssertionError) as raised:
        findings.report()
    assert str(raised.value).splitlines() == [
        "3 properties failed, most severe first:",
        "- expired: 200, not 401: accepted",
        "- garbage: 500, not 401",
        "- 401 without a Bearer challenge",
    ]


def _profiles_schema(spec: dict[str, Any]) -> Any:
    schema = schemathesis.openapi.from_dict(spec, config=SchemathesisConfig.from_dict({}))
    schema.app = profiles.create_app()
    ownership.bind(schema, ownership.Ownership(mint=profiles.mint))
    return schema


def test_an_operation_whose_spec_says_nothing_about_security_is_a_finding() -> None:
    spec = copy.deepcopy(profiles.SPEC)
    del spec["security"]
    schema = _profiles_schema(spec)
    case = schema["/profile"]["GET"].Case(headers={"Authorization": f"Bearer {profiles.mint('a')}"})
    with pytest.raises(AssertionError, match=r"declares no `security`.*answered 401"):
        ownership.unauthenticated_replays(None, case.call(), case)


def test_a_probe_carries_the_attackers_credentials_and_none_of_the_cases() -> None:
    fixed = ownership.Ownership(
        identities=(
            ownership.Identity("alice", {"X-Api-Key": "k-alice"}, {"session": "s-alice"}),
            ownership.Identity("bob", {"Authorization": "Bearer b"}),
        )
    )
    case = _profiles_schema(copy.deepcopy(profiles.SPEC))["/profile"]["GET"].Case(
        headers={"x-api-key": "k-alice", "Authorization": "Bearer a", "X-Trace": "1"},
        cookies={"session": "s-alice", "theme": "dark"},
    )
    probe = as_identity(case, fixed, fixed.identity("bob"))
    assert dict(probe.headers) == {"X-Trace": "1", "Authorization": "Bearer b"}
    assert probe.cookies == {"theme": "dark"}


def test_a_case_sent_without_credentials_is_not_replayed_as_another_user() -> None:
    schema = _profiles_schema(copy.deepcopy(profiles.SPEC))
    authorization = {"Authorization": f"Bearer {profiles.mint('alice')}"}
    case = schema["/profiles"]["GET"].Case(query={"username": "alice"}, headers=authorization)
    response = case.call()
    assert response.status_code == 200
    # The same answer to a case whose credentials were dropped (Schemathesis negates security
    # schemes): no probe may go out as if the attacker had sent it.
    case.headers.clear()
    assert ownership.cross_user_isolation(None, response, case) is True


# The bad credentials the package makes for a minted bearer: no credentials, an unsigned and a
# tampered JWT, and five generic ones.
EVERY = len(forged_credentials(ownership.Ownership(mint=profiles.mint), "alice"))


def _counted(app: Any, flawed_token: str | None = None) -> tuple[Any, list[str]]:
    """`app` behind a layer that lists each request's Authorization header, and (a planted flaw)
    lets `flawed_token` in as alice."""
    seen: list[str] = []

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            sent = headers.get(b"authorization", b"").decode()
            seen.append(sent)
            if flawed_token is not None and sent == f"Bearer {flawed_token}":
                headers[b"authorization"] = f"Bearer {profiles.mint('alice')}".encode()
                scope = {**scope, "headers": list(headers.items())}
        await app(scope, receive, send)

    return counted, seen


@functools.cache
def _steady_mint(sub: str) -> str:
    """One token per user for a test (`_replays` starts each test afresh, so no token outlives
    its ten minutes): the forged credentials derived from it (alg none, sub changed) are then
    the same strings on every case, even across a second's boundary."""
    return profiles.mint(sub)


def _replays(replays: str, flawed_token: str | None = None) -> tuple[Any, list[str]]:
    schema = schemathesis.openapi.from_dict(
        copy.deepcopy(profiles.SPEC), config=SchemathesisConfig.from_dict({})
    )
    schema.app, seen = _counted(profiles.create_app(), flawed_token)
    _steady_mint.cache_clear()
    ownership.bind(schema, ownership.Ownership(mint=_steady_mint, replays=replays))
    return schema, seen


def _replay(schema: Any, seen: list[str], method: str, body: Any = None) -> int:
    """Sends one case, runs unauthenticated_replays on it; how many replays it sent."""
    headers = {"Authorization": f"Bearer {_steady_mint('alice')}"}
    operation = schema["/profile"][method]
    case = operation.Case(headers=headers, body=body) if body else operation.Case(headers=headers)
    response = case.call()
    before = len(seen)
    ownership.unauthenticated_replays(None, response, case)
    return len(seen) - before


def test_each_credential_meets_each_answer_of_an_operation_then_they_take_turns() -> None:
    schema, seen = _replays("rotating")
    every = _replay(schema, seen, "GET")
    replays = seen[-every:]
    assert every == EVERY
    assert {"", "Bearer null"} <= set(replays)
    # Later cases of the same answer: no credentials, and one more in turn, each once per round.
    turns = [seen[-2:] for _ in range(every - 1) if _replay(schema, seen, "GET") == 2]
    assert len(turns) == every - 1
    assert all(first == "" for first, _ in turns)
    assert sorted(second for _, second in turns) == sorted(r for r in replays if r)
    # Another answer of the operation (a 422 body) meets every credential again, once.
    assert _replay(schema, seen, "PUT", {"username": 1}) == every
    assert _replay(schema, seen, "PUT", {"username": 2}) == 2


def test_every_credential_on_every_case_when_asked() -> None:
    schema, seen = _replays("all")
    assert [_replay(schema, seen, "GET") for _ in range(3)] == [EVERY] * 3


def test_a_credential_let_in_is_caught_on_the_operations_first_case_and_in_its_turn() -> None:
    schema, seen = _replays("rotating", flawed_token="null")
    with pytest.raises(AssertionError, match="GET /profile with null: 200, not 401"):
        _replay(schema, seen, "GET")
    caught = 0
    for _ in range(20):
        try:
            _replay(schema, seen, "GET")
        except AssertionError:
            caught += 1
    assert caught >= 1


def test_replays_is_one_of_two_words() -> None:
    with pytest.raises(ValueError, match="replays is one of"):
        ownership.Ownership(mint=profiles.mint, replays="some")
