"""The checks' own rules, case by case: every failed property reported most severe first, an
operation whose spec says nothing about security, probes that carry the attacker's credentials
and only theirs."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

import schemathesis_ownership as ownership
from ownership_fixtures import profiles
from schemathesis_ownership.checks import ACCEPTED, MALFORMED, REFUSED_WRONGLY, Findings
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
