"""What the checks must be told about an API (who its users are, what its refusals look like),
and which schema gets which: `use()` for every schema (the CLI's hooks module), `bind()` for one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .declarations import Declarations, read

# RFC 9457 problem details members: what a refusal may carry, and nothing of the owner's.
PROBLEM_MEMBERS = frozenset({"type", "title", "status", "detail", "instance"})
# `Ownership.replays`: every bad credential on every case, or each of them in turn.
REPLAYS = frozenset({"all", "rotating"})


@dataclass(frozen=True)
class Identity:
    """One user as the API knows them: `name` is the value their data lives under (a path owner
    such as `/users/{name}/…`, a body's `username`); `headers` and `cookies` authenticate them."""

    name: str
    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)

    def described(self) -> str:
        """What the credentials are, without their values."""
        sent = [f"header {h}" for h in self.headers] + [f"cookie {c}" for c in self.cookies]
        return f"{self.name}'s {', '.join(sent) or 'nothing'}"


@dataclass(frozen=True)
class Ownership:
    """How to act as users of one API.

    Identities come either from `mint(sub)`, a valid bearer token (without `Bearer `) for any
    subject, or from `identities`, a fixed set of at least two users (any headers or cookies).
    `forged(sub)` optionally returns more invalid tokens by label (expired, another key).
    `caller` is the user of cases that name no owner; `attackers` are two other users.
    `challenge` is the auth scheme a 401 must name in `WWW-Authenticate` (None: not required).
    `foreign_statuses` are the answers allowed to a request for another user's object (404 alone:
    it must be indistinguishable from a missing one). `volatile_members` are JSON members ignored
    when two answers are compared (timestamps, request ids); `problem_members`, when given, are
    the only members a refusal may carry (whatever they are, it may never show the owner's data).
    `replays` says which bad credentials a case is replayed with: "all", or "rotating" (all of
    them the first time an operation gives an answer, a status; then no credentials and one
    more in turn: checks.py, `replayed_with`).
    """

    mint: Callable[[str], str] | None = None
    identities: tuple[Identity, ...] = ()
    forged: Callable[[str], Mapping[str, str]] | None = None
    caller: str = ""
    attackers: tuple[str, str] | tuple[()] = ()
    challenge: str | None = "Bearer"
    foreign_statuses: frozenset[int] = frozenset({404})
    volatile_members: frozenset[str] = frozenset()
    problem_members: frozenset[str] | None = None
    replays: str = "rotating"

    def __post_init__(self) -> None:
        if self.replays not in REPLAYS:
            raise ValueError(
                f"ownership: replays is one of {sorted(REPLAYS)}, not {self.replays!r}"
            )
        if (self.mint is None) == (not self.identities):
            raise ValueError("ownership: give either mint=... or identities=(...), not both")
        if self.identities and len(self.identities) < 2:
            raise ValueError("ownership: identities needs at least two users")
        names = [identity.name for identity in self.identities]
        if not self.caller:
            object.__setattr__(self, "caller", names[0] if names else "alice")
        if not self.attackers:
            others = [name for name in names if name != self.caller] or ["mallory", "eve"]
            object.__setattr__(self, "attackers", (others[0], others[-1]))

    def attacker_of(self, owner: str) -> str:
        first, second = self.attackers or ("mallory", "eve")
        return first if owner != first else second

    def identity(self, name: str) -> Identity:
        """The user `name`: minted, or the fixed identity of that name (else the caller's)."""
        if self.mint is not None:
            return Identity(name, {"Authorization": f"Bearer {self.mint(name)}"})
        by_name = {identity.name: identity for identity in self.identities}
        return by_name.get(name, by_name.get(self.caller, self.identities[0]))

    def knows(self, name: str) -> bool:
        """Whether `name` is a user the checks can act as."""
        return self.mint is not None or any(i.name == name for i in self.identities)

    def credential_names(self) -> tuple[frozenset[str], frozenset[str]]:
        """(header names, cookie names) any identity authenticates with, lower-cased headers."""
        if self.mint is not None:
            return frozenset({"authorization"}), frozenset()
        headers = {h.lower() for i in self.identities for h in i.headers} | {"authorization"}
        return frozenset(headers), frozenset(c for i in self.identities for c in i.cookies)


_default: Ownership | None = None
# id(raw spec) -> (the raw spec, kept alive so the id stays unique; its binding).
_bound: dict[int, tuple[Mapping[str, Any], Ownership]] = {}
_read: dict[int, tuple[Mapping[str, Any], Declarations]] = {}


def use(ownership: Ownership) -> None:
    """The binding of every schema not bound with `bind()` (the CLI loads one schema)."""
    # One process-wide default, as Schemathesis' own registries of checks and auth.
    global _default
    _default = ownership


def bind(schema: Any, ownership: Ownership) -> None:
    """Bind one loaded Schemathesis schema (and its clones, which share its raw spec)."""
    _bound[id(schema.raw_schema)] = (schema.raw_schema, ownership)


def binding_of(raw_spec: Mapping[str, Any]) -> Ownership | None:
    """The binding of a loaded spec; None when nothing was configured (the checks then skip)."""
    entry = _bound.get(id(raw_spec))
    if entry is not None and entry[0] is raw_spec:
        return entry[1]
    return _default


def declarations_of(raw_spec: Mapping[str, Any]) -> Declarations:
    """The spec's declarations, read once per loaded spec."""
    entry = _read.get(id(raw_spec))
    if entry is None or entry[0] is not raw_spec:
        entry = _read[id(raw_spec)] = (raw_spec, read(raw_spec))
    return entry[1]
