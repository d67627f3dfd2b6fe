"""What the checks must be told about an API (how to mint its tokens, which users to play), and
which schema gets which: `use()` for every schema (the CLI's hooks module), `bind()` for one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .declarations import Declarations, read

# RFC 9457 problem details members: what a refusal may carry, and nothing of the owner's.
PROBLEM_MEMBERS = frozenset({"type", "title", "status", "detail", "instance"})


@dataclass(frozen=True)
class Ownership:
    """How to act as any user of one API.

    `mint(sub)` returns a valid bearer token (without the `Bearer ` prefix) whose subject is `sub`;
    `forged(sub)` optionally returns more invalid tokens for `sub` by label (expired, signed with
    a key the API does not trust): the checks add them to the ones they derive from a genuine token.
    `caller` is the user for owner-free operations; `attackers` are two other users, distinct
    values valid for the owner parameter.
    """

    mint: Callable[[str], str]
    forged: Callable[[str], Mapping[str, str]] | None = None
    caller: str = "alice"
    attackers: tuple[str, str] = ("mallory", "eve")
    problem_members: frozenset[str] = field(default=PROBLEM_MEMBERS)

    def attacker_of(self, owner: str) -> str:
        first, second = self.attackers
        return first if owner != first else second


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


def binding_of(raw_spec: Mapping[str, Any]) -> Ownership:
    entry = _bound.get(id(raw_spec))
    if entry is not None:
        return entry[1]
    if _default is None:
        raise RuntimeError(
            "ownership: the spec declares owners but no token minting is configured; "
            "call ownership.use(Ownership(mint=...)) in the hooks module"
        )
    return _default


def declarations_of(raw_spec: Mapping[str, Any]) -> Declarations:
    """The spec's declarations, read once per loaded spec."""
    entry = _read.get(id(raw_spec))
    if entry is None or entry[0] is not raw_spec:
        entry = _read[id(raw_spec)] = (raw_spec, read(raw_spec))
    return entry[1]
