"""The two checks, derived from the spec's declarations; neither names a path or a parameter.

- `unauthenticated_replays`: every secured case, replayed without a valid token, is a 401 with a
  bearer challenge.
- `cross_user_isolation`: every successful owned case, replayed by another user, learns and
  changes nothing of the owner's: the foreign-owner replay is a 403 carrying no owner data, a
  listing as the attacker shows none of the owner's objects, an owner's object named under the
  attacker's own path is the very 404 of a missing id, and everything the owner can list is
  unchanged afterwards.

Checks are plain functions: an AssertionError is a finding; returning True means "not applicable".
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis import Case, Response

from . import snapshot
from .binding import Ownership, binding_of, declarations_of
from .credentials import bad_credentials, owner_of
from .declarations import Owned, pointer
from .values import missing_value


def _with(case: Case[Any], authorization: str | None) -> Case[Any]:
    """The same request with another `Authorization` header (None: without one)."""
    probe = case.derive()  # a copy of the headers, without Schemathesis' own credentials
    probe.headers.pop("Authorization", None)
    if authorization is not None:
        probe.headers["Authorization"] = authorization
    return probe


def _header(response: Response, name: str) -> str | None:
    values = response.headers.get(name.lower())
    return values[0] if values else None


def _as(case: Case[Any], ownership: Ownership, user: str, **path: Any) -> Case[Any]:
    probe = _with(case, f"Bearer {ownership.mint(user)}")
    probe.path_parameters.update(path)
    return probe


def _operation(case: Case[Any]) -> Owned | None:
    declarations = declarations_of(case.operation.schema.raw_schema)
    if not declarations.declared:
        return None
    # None too for a method the spec does not document (Schemathesis' unsupported_method probes).
    return declarations.operation(case.method, case.path)


@schemathesis.check
def unauthenticated_replays(ctx: Any, response: Response, case: Case[Any]) -> bool | None:
    """Every secured request, replayed without a valid token, is 401 with a bearer challenge."""
    op = _operation(case)
    if op is None or not op.secured:
        return True
    ownership = binding_of(case.operation.schema.raw_schema)
    for label, credential in bad_credentials(ownership, owner_of(case) or ownership.caller).items():
        replay = _with(case, credential).call()
        assert replay.status_code == 401, (
            f"{case.method} {case.formatted_path} with {label}: {replay.status_code}, not 401"
        )
        challenge = _header(replay, "www-authenticate") or ""
        assert challenge.startswith("Bearer "), f"{label}: 401 without a Bearer challenge"
    return None


def _no_owner_data(replay: Response, ownership: Ownership) -> None:
    if not replay.content:
        return
    try:
        body = replay.json()
    except ValueError:
        body = replay.content
    assert isinstance(body, dict), f"a {replay.status_code} body that is not a problem: {body!r}"
    leaked = set(body) - ownership.problem_members
    assert not leaked, f"{replay.status_code} body carries {sorted(leaked)}"


@schemathesis.check
def cross_user_isolation(ctx: Any, response: Response, case: Case[Any]) -> bool | None:
    """Another user's token learns and changes nothing of the owner's data."""
    op = _operation(case)
    if op is None or op.owner_free or not op.secured:
        return True
    assert op.owner is not None, f"{case.method} {case.path} declares no owner"
    owner = owner_of(case)
    if owner is None or not 200 <= response.status_code < 300:
        return True
    raw = case.operation.schema.raw_schema
    ownership, declarations = binding_of(raw), declarations_of(raw)
    attacker = ownership.attacker_of(owner)
    before = snapshot.take(case, declarations, ownership, owner)

    # The attacker names the owner in the path: 403, and nothing of the owner's in the answer.
    replay = _as(case, ownership, attacker).call()
    assert replay.status_code == 403, (
        f"another user's token got {replay.status_code} on {owner}'s {case.method} {case.path}"
    )
    _no_owner_data(replay, ownership)

    # The attacker lists their own objects here: none of the owner's may appear.
    listing = op.listing
    if listing is not None:
        path = {name: case.path_parameters[name] for name in listing.parents}
        for view in listing.views:
            status, items = snapshot.walk(
                case, listing, op.owner, attacker, ownership, path, as_user=attacker, view=view
            )
            if 200 <= status < 300:
                mine = before.objects.get(listing.resource, frozenset())
                seen = [item for item in items if snapshot.canonical(item) in mine]
                assert not seen, (
                    f"another user's list shows the owner's {listing.resource} objects: "
                    f"{[pointer(item, listing.id) for item in seen]} ({snapshot.canonical(view)})"
                )

    # The attacker names the owner's object under their own path: the 404 of a missing id.
    if op.resource_ids:
        what = "/".join(op.resource_ids.values())
        missing_ids = {
            name: missing_value(op.id_schemas[name], case.path_parameters[name])
            for name in op.resource_ids
        }
        foreign = _as(case, ownership, attacker, **{op.owner: attacker}).call()
        missing = _as(case, ownership, attacker, **{op.owner: attacker}, **missing_ids).call()
        assert foreign.status_code == 404, (
            f"another user's {what} answered {foreign.status_code} to {case.method} "
            f"{case.path}, a missing one {missing.status_code}"
        )
        assert foreign.content == missing.content, (
            f"another user's {what} differs from a missing one on {case.method} {case.path}"
        )

    changed = before.changes(snapshot.take(case, declarations, ownership, owner))
    assert not changed, f"the owner's data changed after another user's requests: {changed}"
    return None
