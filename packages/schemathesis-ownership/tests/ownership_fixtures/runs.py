"""Runs of Schemathesis on a fixture app, in-process: with this package's checks, or with the
built-in checks it is measured against; the failures found, as text."""

from __future__ import annotations

import copy
import functools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import jwt
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.schemas import BaseSchema

import schemathesis_ownership as ownership

from . import notes, profiles, projects, shop
from .lists import app as lists

OURS = ("unauthenticated_replays", "cross_user_isolation", "token_owned_isolation")
BUILT_IN = ("object_level_authorization", "ignored_auth")
# Scenarios: creates, lists and reads chained through links (declared or inferred). A broken
# variant stops at its first finding, so it can afford more scenarios than a correct app runs.
CLEAN = hypothesis.settings(
    max_examples=12,
    stateful_step_count=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)
UNTIL_FOUND = hypothesis.settings(CLEAN, max_examples=60)
# The built-in checks on a broken variant: as many scenarios as a correct app gets, twice over.
BUILT_IN_UNTIL_FOUND = hypothesis.settings(CLEAN, max_examples=25)


def config(checks: tuple[str, ...], **extra: Any) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": 20261206,
            "checks": {"enabled": False, **{name: {"enabled": True} for name in checks}},
            # Generation from the spec alone: no string constants harvested from the fixtures.
            "analysis": {"constants": {"enabled": False}},
            **extra,
        }
    )


def ours(
    spec: Mapping[str, Any], app: Any, binding: ownership.Ownership, **extra: Any
) -> BaseSchema:
    schema = schemathesis.openapi.from_dict(copy.deepcopy(dict(spec)), config=config(OURS, **extra))
    schema.app = app
    ownership.bind(schema, binding)
    return schema


def built_in(
    spec: Mapping[str, Any],
    app: Any,
    users: Mapping[str, Mapping[str, str]],
    folder: Path,
    **extra: Any,
) -> BaseSchema:
    """The built-in checks with a Web Fuzzing Commons document naming every user as a peer."""
    document = {
        "auth": [
            {"name": name, "fixedHeaders": [{"name": k, "value": v} for k, v in headers.items()]}
            for name, headers in users.items()
        ]
    }
    path = folder / "wfc-auth.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    wfc = {"path": str(path), "peers": list(users)}
    schema = schemathesis.openapi.from_dict(
        copy.deepcopy(dict(spec)), config=config(BUILT_IN, auth={"wfc": wfc}, **extra)
    )
    schema.app = app
    return schema


def findings(
    schema: BaseSchema, settings: hypothesis.settings = CLEAN, *, each: bool = False
) -> str:
    """Every failure a stateful run reports ("" when none). Each scenario starts from an empty
    app (`app.state.reset()`), so that a scenario replayed while shrinking sees what it saw."""
    machine = schema.as_state_machine()
    reset = schema.app.state.reset

    class FromEmpty(machine):  # type: ignore[misc,valid-type]
        def setup(self) -> None:
            reset()

    try:
        FromEmpty.run(settings=settings)
    except FailureGroup as found:
        return str(found) + "".join(f"\n{e}" for e in found.exceptions)
    return each_operation(schema) if each else ""


def each_operation(schema: BaseSchema, examples: int = 15) -> str:
    """Failures of each operation's own generated cases (the CLI's fuzzing phase), for what no
    link reaches; "" when none."""
    reset = schema.app.state.reset
    for result in schema.get_all_operations():
        operation = result.ok()

        @hypothesis.given(operation.as_strategy())
        @hypothesis.settings(CLEAN, max_examples=examples, phases=[hypothesis.Phase.generate])
        def test(case: schemathesis.Case) -> None:
            reset()
            case.call_and_validate()

        try:
            test()
        except FailureGroup as found:
            return str(found) + "".join(f"\n{e}" for e in found.exceptions)
    return ""


@dataclass(frozen=True)
class Fixture:
    """One fixture API: its variants (None: correct), how to build one, who its users are."""

    name: str
    correct: tuple[str | None, ...]
    flaws: tuple[str, ...]
    build: Callable[[str | None], tuple[Mapping[str, Any], Any, ownership.Ownership]]
    peers: tuple[str, str]
    config: Mapping[str, Any] = field(default_factory=dict)  # more Schemathesis configuration
    until_found: hypothesis.settings = UNTIL_FOUND
    each: bool = False  # also each operation's own cases: links do not reach every operation


def _shop(flaw: str | None) -> tuple[Mapping[str, Any], Any, ownership.Ownership]:
    app = shop.create_app(flaw)
    binding = ownership.Ownership(mint=shop.mint, forged=shop.forged, caller="alice")
    return app.openapi(), app, binding


def _notes(flaw: str | None) -> tuple[Mapping[str, Any], Any, ownership.Ownership]:
    tokens = notes.sessions()
    users = tuple(
        ownership.Identity(u, {"Authorization": f"Bearer {t}"}) for u, t in tokens.items()
    )
    # Opaque tokens, given as a fixed set of users; its 401s carry no challenge.
    return (
        notes.SPEC,
        notes.create_app(tokens, flaw),
        ownership.Ownership(identities=users, challenge=None),
    )


def _lists_token(sub: str, ttl: int = 600) -> str:
    now = int(time.time())
    claims = {"sub": sub, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, lists.SECRET, algorithm="HS256")


def _lists(flaw: str | None) -> tuple[Mapping[str, Any], Any, ownership.Ownership]:
    binding = ownership.Ownership(
        mint=_lists_token,
        forged=lambda sub: {"expired": _lists_token(sub, ttl=-3600)},
        caller="acct_alice",
        attackers=("acct_mallory", "acct_eve"),
    )
    return lists.SPEC, lists.create_app(flaw), binding


def _projects(flaw: str | None) -> tuple[Mapping[str, Any], Any, ownership.Ownership]:
    app = projects.create_app(flaw)
    return app.openapi(), app, ownership.Ownership(mint=projects.mint, caller="alice")


def _profiles(flaw: str | None) -> tuple[Mapping[str, Any], Any, ownership.Ownership]:
    binding = ownership.Ownership(mint=profiles.mint, caller="alice")
    return profiles.SPEC, profiles.create_app(flaw), binding


FIXTURES = {
    "profiles": Fixture(
        "profiles",
        (None,),
        profiles.FLAWS,
        _profiles,
        ("alice", "mallory"),
        until_found=CLEAN,  # its links reach one operation: each operation's own cases find
        each=True,
    ),
    "shop": Fixture("shop", (None,), shop.FLAWS, _shop, ("alice", "mallory")),
    "projects": Fixture("projects", (None,), projects.FLAWS, _projects, ("alice", "mallory")),
    "notes": Fixture("notes", notes.CORRECT, notes.FLAWS, _notes, notes.USERS[:2]),
    "lists": Fixture(
        "lists",
        (None,),
        lists.FLAWS,
        _lists,
        ("acct_alice", "acct_mallory"),
        # The spec's links only: inferred ones dilute the create-a-list-then-an-item chains.
        {"phases": {"stateful": {"inference": {"algorithms": []}}}},
        hypothesis.settings(UNTIL_FOUND, max_examples=100),
    ),
}


@functools.cache
def ours_on(fixture: str, flaw: str | None) -> str:
    """This package's findings on one variant (cached: the superset test reuses them)."""
    known = FIXTURES[fixture]
    spec, app, binding = known.build(flaw)
    settings = CLEAN if flaw in known.correct else known.until_found
    return findings(ours(spec, app, binding, **known.config), settings, each=known.each)


def built_in_on(fixture: str, flaw: str | None, folder: Path) -> str:
    """Schemathesis' own object_level_authorization and ignored_auth on one variant, with every
    user of the fixture as a WFC peer."""
    known = FIXTURES[fixture]
    spec, app, binding = known.build(flaw)
    users = {name: dict(binding.identity(name).headers) for name in known.peers}
    settings = CLEAN if flaw in known.correct else BUILT_IN_UNTIL_FOUND
    return findings(built_in(spec, app, users, folder, **known.config), settings, each=known.each)
