"""The checks, derived from the spec and its optional declarations; none names a path.

- `unauthenticated_replays`: every secured case, replayed with no, forged, expired or unsigned
  credentials, is a 401 (with the configured challenge); an operation whose spec says nothing
  about security is a finding. Each credential meets each operation in each answer it gives;
  later cases of that answer take no credentials and one more in turn (`replayed_with`).
- `cross_user_isolation`: every successful case whose path names an owner, replayed by another
  user, learns and changes nothing of the owner's.
- `token_owned_isolation` (objects.py): what a user created or listed through an operation whose
  path names no owner is theirs alone.

Each check runs all its probes and reports every failed property of the case in one finding,
most severe first. Checks are plain functions: an AssertionError is a finding; returning True
means "not applicable". `register()` makes them known to Schemathesis.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from schemathesis import Case, Response
from schemathesis.core.parameters import ParameterLocation

from . import snapshot
from .binding import Identity, Ownership, binding_of, declarations_of
from .credentials import Forged, forged_credentials, named_owner_of, owner_of
from .declarations import Owned, pointer
from .probes import (
    as_identity,
    carries_credentials,
    changed,
    differing_members,
    header,
    json_or_bytes,
    same_answer,
    sent,
    without,
)
from .values import missing_value

# Severities, most severe first: data reached by someone who must not, then a wrong refusal,
# then what only tells an attacker something, then what only breaks a client.
ACCEPTED = 0
REFUSED_WRONGLY = 1
LEAKS_EXISTENCE = 2
MALFORMED = 3
# Answers that refuse a body for what it is, before anyone asks whose object it names.
INVALID_BODY = (400, 422)


@dataclass
class Findings:
    """Every failed property of one case, reported together, most severe first."""

    found: list[tuple[int, str]] = field(default_factory=list)

    def add(self, severity: int, message: str) -> None:
        self.found.append((severity, message))

    def report(self) -> None:
        if not self.found:
            return
        ordered = [message for _, message in sorted(self.found, key=lambda f: f[0])]
        if len(ordered) == 1:
            raise AssertionError(ordered[0])
        raise AssertionError(
            f"{len(ordered)} properties failed, most severe first:\n"
            + "\n".join(f"- {m}" for m in ordered)
        )


def _operation(case: Case[Any]) -> Owned | None:
    # None for a method the spec does not document (Schemathesis' unsupported_method probes).
    return declarations_of(case.operation.schema.raw_schema).operation(case.method, case.path)


@dataclass
class _Turns:
    """What one loaded spec's cases were replayed with so far."""

    answers: set[tuple[str, str, int]] = field(default_factory=set)
    turns: dict[tuple[str, str], int] = field(default_factory=dict)


# id(raw spec) -> (the raw spec, kept alive so the id stays unique; its turns), as binding.py.
_turns: dict[int, tuple[Mapping[str, Any], _Turns]] = {}
_turns_lock = threading.Lock()  # Schemathesis' workers are threads


def replayed_with(
    case: Case[Any], response: Response, ownership: Ownership, credentials: list[Forged]
) -> list[Forged]:
    """The bad credentials this case is replayed with. "rotating": all of them the first time
    (per loaded spec) an operation gives this answer, else the first (no credentials) and one
    more, each in turn.

    Authentication is decided before what a request asks is read, so what one credential gets
    depends on the operation and on the path the request took, which its answer tells apart,
    not on each generated value: every credential still meets every operation in every answer
    it gave, and every case is still replayed without credentials (an operation that forgets
    authentication for some values is found by that replay). Sixteen replays a case were most
    of a fuzzing run's requests; "all" keeps them for a deeper run."""
    if ownership.replays == "all" or len(credentials) <= 2:
        return credentials
    raw = case.operation.schema.raw_schema
    operation = (case.method.upper(), case.path)
    with _turns_lock:
        entry = _turns.get(id(raw))
        if entry is None or entry[0] is not raw:
            entry = _turns[id(raw)] = (raw, _Turns())
        seen = entry[1]
        answer = (*operation, response.status_code)
        if answer not in seen.answers:
            seen.answers.add(answer)
            return credentials
        turn = seen.turns.get(operation, 0)
        seen.turns[operation] = turn + 1
    return [credentials[0], credentials[1 + turn % (len(credentials) - 1)]]


def _negated_path(case: Case[Any]) -> bool:
    """Whether the case broke a path parameter on purpose: it may miss the route entirely."""
    meta = case.meta
    if meta is None:
        return False
    return bool(meta.is_negative_at(ParameterLocation.PATH))


def unauthenticated_replays(ctx: Any, response: Response, case: Case[Any]) -> bool | None:
    """Every secured request, replayed without valid credentials, is a 401 with a challenge."""
    ownership = binding_of(case.operation.schema.raw_schema)
    op = _operation(case)
    if ownership is None or op is None or op.secured is False or _negated_path(case):
        return True
    findings = Findings()
    victim = owner_of(case) or ownership.caller
    if op.secured is None:
        bare = as_identity(case, ownership, Identity(victim)).call()
        findings.add(
            REFUSED_WRONGLY,
            f"{case.method} {case.path} declares no `security` (neither the operation nor the "
            f"document): whether it is public is unknown; without credentials it answered "
            f"{bare.status_code}. Declare `security: []` if it is public.",
        )
        findings.report()
    unchallenged: list[str] = []
    for forged in replayed_with(case, response, ownership, forged_credentials(ownership, victim)):
        replay = as_identity(case, ownership, forged.identity).call()
        what = (
            f"{case.method} {case.formatted_path} with {forged.label}: {replay.status_code}, "
            f"not 401 (sent {sent(forged.identity)})"
        )
        if 200 <= replay.status_code < 300:
            findings.add(ACCEPTED, f"{what}: accepted")
        elif replay.status_code == response.status_code and 400 <= replay.status_code < 500:
            # The request is refused for what it is (a 422 body, a 404 id) whoever sends it:
            # frameworks validate before they authenticate (FastAPI's dependencies do).
            continue
        elif replay.status_code != 401:
            findings.add(REFUSED_WRONGLY, what)
        elif ownership.challenge is not None:
            scheme = (header(replay, "www-authenticate") or "").split(" ", 1)[0]
            if scheme.lower() != ownership.challenge.lower():
                unchallenged.append(forged.label)
    if unchallenged:
        findings.add(
            MALFORMED,
            f"{case.method} {case.formatted_path}: 401 without a `{ownership.challenge}` "
            f"challenge in WWW-Authenticate, with {', '.join(unchallenged)}",
        )
    findings.report()
    return None


def _refusal_carries_nothing(
    replay: Response,
    ownership: Ownership,
    findings: Findings,
    what: str,
    shows_owner_data: bool,
) -> None:
    if shows_owner_data:
        findings.add(ACCEPTED, f"{what}, and its body shows the owner's data")
    if not replay.content or ownership.problem_members is None:
        return
    body = json_or_bytes(replay)
    if not isinstance(body, dict):
        findings.add(ACCEPTED, f"{what}: a {replay.status_code} body that is not a problem")
        return
    leaked = set(body) - ownership.problem_members - ownership.volatile_members
    if leaked:
        findings.add(ACCEPTED, f"{what}: its {replay.status_code} body carries {sorted(leaked)}")


def _shows_owner_data(body: Any, before: snapshot.Snapshot, owner_body: Any) -> bool:
    """Whether an answer to another user holds the owner's objects or the owner's own answer."""
    objects = {o for found in before.objects.values() for o in found}

    def walk(node: Any) -> bool:
        if snapshot.canonical(node) in objects:
            return True
        children = node.values() if isinstance(node, dict) else node
        return isinstance(node, dict | list) and any(walk(child) for child in children)

    return walk(body) or (_has_values(owner_body) and body == owner_body)


def _has_values(body: Any) -> bool:
    """Whether an answer holds any value at all (`{"items": []}` is the same for everyone)."""
    if isinstance(body, dict):
        return any(_has_values(value) for value in body.values())
    if isinstance(body, list):
        return any(_has_values(item) for item in body)
    return body not in (None, b"", "")


def cross_user_isolation(ctx: Any, response: Response, case: Case[Any]) -> bool | None:
    """Another user's credentials learn and change nothing of the owner the path names."""
    raw = case.operation.schema.raw_schema
    ownership = binding_of(raw)
    op = _operation(case)
    if ownership is not None and op is not None and op.secured and op.named_owner is not None:
        return _named_owner_isolation(case, response, op, ownership)
    if ownership is None or op is None or op.owner is None or not op.secured:
        return True
    owner = owner_of(case)
    ok = 200 <= response.status_code < 300
    if owner is None or not ok or not carries_credentials(case, ownership):
        return True
    declarations = declarations_of(raw)
    volatile = ownership.volatile_members
    attacker = ownership.attacker_of(owner)
    thief = ownership.identity(attacker)
    before = snapshot.take(case, declarations, ownership, owner)
    findings = Findings()
    where = f"{owner}'s {case.method} {case.path}"

    # The attacker names the owner in the path: refused, or served their own data (an API may
    # act on the token's user whatever the path says), never the owner's.
    replay = as_identity(case, ownership, thief).call()
    what = f"another user's token got {replay.status_code} on {where} (sent {sent(thief)})"
    owner_body = without(json_or_bytes(response), volatile)
    shown = _shows_owner_data(without(json_or_bytes(replay), volatile), before, owner_body)
    if 200 <= replay.status_code < 300:
        if shown:
            findings.add(ACCEPTED, f"{what} and read the owner's data")
    elif replay.status_code in (403, 404):
        _refusal_carries_nothing(replay, ownership, findings, what, shown)
    else:
        findings.add(REFUSED_WRONGLY, f"{what}, not 403 or 404")

    # The attacker lists their own objects, here and in every top-level listing: none of the
    # owner's may appear.
    top_level = [listed for listed in declarations.listings if not listed.parents]
    own = [op.listing] if op.listing is not None else []
    for listing in own + [listed for listed in top_level if listed is not op.listing]:
        listed = declarations.operation(listing.method, listing.path)
        assert listed is not None
        assert listed.owner is not None
        values = case.path_parameters if listing is op.listing else {}
        path = {name: unquote(str(values[name])) for name in listing.parents}
        for view in listing.views:  # sorted, filtered or searched pages too
            status, items = snapshot.walk(
                case, listing, listed.owner, attacker, ownership, path, as_user=attacker, view=view
            )
            if 200 <= status < 300:
                mine = before.objects.get(listing.resource, frozenset())
                seen = [item for item in items if snapshot.canonical(item) in mine]
                if seen:
                    findings.add(
                        ACCEPTED,
                        f"another user's list shows the owner's {listing.resource} objects: "
                        f"{[pointer(item, listing.id) for item in seen]} "
                        f"({snapshot.canonical(view)})",
                    )

    # The attacker names the owner's object under their own path: the answer to a missing id.
    if op.resource_ids:
        _foreign_is_missing(case, op, ownership, _newcomer(ownership, thief), findings)

    changed = before.changes(snapshot.take(case, declarations, ownership, owner))
    if changed:
        findings.add(ACCEPTED, f"the owner's data changed after another user's requests: {changed}")
    findings.report()
    return None


_NEWCOMERS = itertools.count(1)


def _newcomer(ownership: Ownership, attacker: Identity) -> Identity:
    """A user who holds nothing yet, where tokens can be minted for any name; else the attacker.

    Where ids are numbered per owner (each user's first object is 1), the owner's id may also
    name one of the attacker's own objects, which the attacker may rightly read or delete. Under
    a newcomer's path no object exists: any answer but the missing one is the owner's object."""
    if ownership.mint is None:
        return attacker
    return ownership.identity(f"{attacker.name}{next(_NEWCOMERS)}")


def _foreign_is_missing(
    case: Case[Any], op: Owned, ownership: Ownership, thief: Identity, findings: Findings
) -> None:
    assert op.owner is not None
    what = "/".join(op.resource_ids.values())
    missing_ids = {
        name: missing_value(op.id_schemas[name], case.path_parameters[name])
        for name in op.resource_ids
    }
    own_path = {op.owner: thief.name}
    foreign = as_identity(case, ownership, thief, **own_path).call()
    missing = as_identity(case, ownership, thief, **own_path, **missing_ids).call()
    if 200 <= foreign.status_code < 300 or foreign.status_code not in ownership.foreign_statuses:
        findings.add(
            ACCEPTED if foreign.status_code < 300 else LEAKS_EXISTENCE,
            f"another user's {what} answered {foreign.status_code} to {case.method} "
            f"{case.path}, a missing one {missing.status_code} (sent {sent(thief)})",
        )
        return
    if foreign.status_code != missing.status_code:
        return  # both answers are ones the policy allows (403 for one, 404 for the other)
    # Members that differ between two answers to one request say nothing about the object.
    again = as_identity(case, ownership, thief, **own_path, **missing_ids).call()
    volatile = ownership.volatile_members | differing_members(
        json_or_bytes(missing), json_or_bytes(again)
    )
    if not same_answer(foreign, missing, volatile):
        findings.add(
            LEAKS_EXISTENCE,
            f"another user's {what} differs from a missing one on {case.method} {case.path} "
            f"(sent {sent(thief)})",
        )


def _views(case: Case[Any], ownership: Ownership, user: str) -> dict[str, Any]:
    """What `user` reads where no path nor query names anyone (`GET /profile`, `GET /me`),
    members that differ between two reads left out."""
    raw = case.operation.schema.raw_schema
    declarations = declarations_of(raw)
    identity = ownership.identity(user)
    views: dict[str, Any] = {}
    for (method, path), op in declarations.operations.items():
        if method != "GET" or "{" in path or not op.secured or op.shared:
            continue
        if op.named_owner is not None or op.listing is not None:
            continue
        read = case.operation.schema[path]["GET"].Case(
            headers=dict(identity.headers), cookies=dict(identity.cookies)
        )
        first, second = read.call(), read.call()
        if 200 <= first.status_code < 300:
            volatile = ownership.volatile_members | differing_members(
                json_or_bytes(first), json_or_bytes(second)
            )
            views[f"GET {path}"] = without(json_or_bytes(first), volatile)
    return views


def _named_owner_isolation(
    case: Case[Any], response: Response, op: Owned, ownership: Ownership
) -> bool | None:
    """The owner a query or body names: another user naming them reads and changes nothing of
    theirs (read back through every operation that names nobody, as the owner)."""
    owner = named_owner_of(case)
    ok = 200 <= response.status_code < 300
    if owner is None or not ok or not carries_credentials(case, ownership):
        return True
    assert op.named_owner is not None
    where, name = op.named_owner
    thief = ownership.identity(ownership.attacker_of(owner))
    before = _views(case, ownership, owner)
    probe = as_identity(case, ownership, thief)
    if where == "body":
        probe.body = changed(probe.body, keep={name.lstrip("/").split("/")[0]})
    replay = probe.call()
    if where == "body" and replay.status_code in INVALID_BODY:
        # The changed body is refused for what it is (checked before whose it is): the owner's
        # own body, which the API accepted from them, is what would land.
        replay = as_identity(case, ownership, thief).call()
    findings = Findings()
    what = (
        f"another user's token got {replay.status_code} on {case.method} {case.path} naming "
        f"{owner} in the {where} (sent {sent(thief)})"
    )
    volatile = ownership.volatile_members
    owner_body = without(json_or_bytes(response), volatile)
    read = 200 <= replay.status_code < 300 and case.method == "GET" and _has_values(owner_body)
    if read and without(json_or_bytes(replay), volatile) == owner_body:
        findings.add(ACCEPTED, f"{what}, and read the owner's data")
    after = _views(case, ownership, owner)
    moved = sorted(key for key in before if before[key] != after.get(key))
    if moved:
        findings.add(ACCEPTED, f"{what}, and the owner's data changed: {moved}")
    findings.report()
    return None
