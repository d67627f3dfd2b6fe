"""Credentials for the checks: the owner's own (the auth provider), bad ones to replay, and the
one helper that puts an identity on a request after taking every other's off."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from schemathesis import Case

from .binding import Identity, Ownership, binding_of, declarations_of
from .declarations import pointer
from .values import fits


@dataclass(frozen=True)
class Forged:
    """A credential that must be refused: `label` says what it is; `identity` carries it (no
    headers nor cookies: the request goes out with no credentials at all)."""

    label: str
    identity: Identity


def _b64(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(token: str) -> dict[str, Any] | None:
    """The payload of a compact JWT, or None when the token is not one."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


def named_owner_of(case: Case[Any]) -> str | None:
    """The owner the case's query or body names, when the operation declares one there."""
    op = declarations_of(case.operation.schema.raw_schema).operation(case.method, case.path)
    if op is None or op.named_owner is None:
        return None
    where, name = op.named_owner
    if where == "query":
        value = (case.query or {}).get(name)
    else:
        try:
            value = pointer(case.body, name)
        except (KeyError, IndexError, TypeError):
            return None
    return value if isinstance(value, str) and value else None


def owner_of(case: Case[Any]) -> str | None:
    """The owner the case's path names (decoded), when the operation has one and it is valid."""
    op = declarations_of(case.operation.schema.raw_schema).operation(case.method, case.path)
    if op is None or op.owner is None:
        return named_owner_of(case)
    value = (case.path_parameters or {}).get(op.owner)
    # Path values may reach a check percent-encoded (stateful links copy the sent form).
    value = unquote(value) if isinstance(value, str) else value
    return value if fits(value, op.owner_schema) else None


def _replace(identity: Identity, value: str) -> Identity:
    """The identity with each credential's value replaced by `value` (a bearer keeps its scheme)."""
    headers = {
        name: f"Bearer {value}".rstrip() if sent.startswith("Bearer ") else value
        for name, sent in identity.headers.items()
    }
    return Identity(identity.name, headers, dict.fromkeys(identity.cookies, value))


def forged_credentials(ownership: Ownership, victim: str) -> list[Forged]:
    """Credentials that must all get 401, most dangerous first (a refusal of the first ones is
    what stops a stranger reading the victim's data)."""
    genuine = ownership.identity(victim)
    intruder = ownership.attacker_of(victim)
    found = [Forged("no credentials", Identity(victim))]
    if ownership.forged is not None:
        for label, token in ownership.forged(victim).items():
            found.append(Forged(label, Identity(victim, {"Authorization": f"Bearer {token}"})))
    bearer = next(
        (v.removeprefix("Bearer ") for v in genuine.headers.values() if v.startswith("Bearer ")),
        None,
    )
    claims = _claims(bearer) if bearer else None
    if bearer and claims is not None:
        header, _, signature = bearer.split(".")
        unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
        tampered = f"{header}.{_b64({**claims, 'sub': intruder})}.{signature}"
        found += [
            Forged("an unsigned JWT (alg none)", _replace(genuine, unsigned)),
            Forged("a JWT with its sub changed", _replace(genuine, tampered)),
        ]
    found += [
        Forged(
            "base64 JSON claims, unsigned",
            _replace(genuine, _b64({"sub": victim, "user": victim, "username": victim})),
        ),
        Forged("the bare user id", _replace(genuine, victim)),
        Forged("null", _replace(genuine, "null")),
        Forged("an empty credential", _replace(genuine, "")),
        Forged("garbage", _replace(genuine, "not.a.token")),
    ]
    return found


class OwnerBearer:
    """Authenticates every case as the owner its path names (else the caller), so that positive
    cases reach 2xx instead of stopping at 403. Registered by `register()`; specs bound to no
    configuration get nothing."""

    def get(self, case: Case[Any], ctx: Any) -> Identity | None:
        ownership = binding_of(case.operation.schema.raw_schema)
        if ownership is None:
            return None
        owner = owner_of(case)
        return ownership.identity(owner if owner and ownership.knows(owner) else ownership.caller)

    def set(self, case: Case[Any], data: Identity, ctx: Any) -> None:
        ownership = binding_of(case.operation.schema.raw_schema)
        op = declarations_of(case.operation.schema.raw_schema).operation(case.method, case.path)
        if ownership is not None and ownership.identities and op is not None and op.owner:
            # A fixed set of users: a generated owner nobody logs in as would only ever get
            # 403, so a valid one is replaced by the user's own (invalid ones stay negative).
            value = case.path_parameters.get(op.owner)
            if owner_of(case) is not None and not ownership.knows(unquote(str(value))):
                case.path_parameters[op.owner] = quote(data.name, safe="")
        if ownership is not None and ownership.identities and op is not None and op.named_owner:
            named = named_owner_of(case)
            where, name = op.named_owner
            if named is not None and not ownership.knows(named):
                if where == "query":
                    case.query[name] = data.name
                elif isinstance(case.body, dict) and name.count("/") == 1:
                    case.body[name[1:]] = data.name
        case.headers.update(data.headers)
        if data.cookies:
            case.cookies.update(data.cookies)
