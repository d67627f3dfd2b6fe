"""Bearer tokens for the checks: the owner's own (as the auth provider), and bad ones to replay."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import schemathesis
from schemathesis import Case

from .binding import Ownership, binding_of, declarations_of
from .values import fits


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(token: str) -> dict[str, Any]:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error) as error:
        raise ValueError("ownership: mint() must return a compact JWT") from error
    if not isinstance(claims, dict):
        raise ValueError("ownership: mint() must return a JWT whose payload is an object")
    return claims


def owner_of(case: Case[Any]) -> str | None:
    """The owner the case's path names, when the operation has one and the value is valid."""
    op = declarations_of(case.operation.schema.raw_schema).operation(case.method, case.path)
    if op is None or op.owner is None:
        return None
    value = (case.path_parameters or {}).get(op.owner)
    return value if fits(value, op.owner_schema) else None


def bad_credentials(ownership: Ownership, victim: str) -> dict[str, str | None]:
    """`Authorization` values that must all get 401, by label (None: no header at all)."""
    genuine = ownership.mint(victim)
    header, _, signature = genuine.split(".")
    claims = _claims(genuine)
    intruder = ownership.attacker_of(victim)
    found: dict[str, str | None] = {
        "no token": None,
        "garbage": "Bearer not.a.token",
        "alg none": f"Bearer {_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "tampered sub": f"Bearer {header}.{_b64({**claims, 'sub': intruder})}.{signature}",
    }
    if ownership.forged is not None:
        found.update({label: f"Bearer {t}" for label, t in ownership.forged(victim).items()})
    return found


@schemathesis.auth(refresh_interval=None, retry_on=[])
class OwnerBearer:
    """A fresh token whose subject is the owner the case's path names (else the caller), so that
    positive cases reach 2xx instead of stopping at 403. Specs that declare no owner get none."""

    def get(self, case: Case[Any], ctx: Any) -> str | None:
        if not declarations_of(case.operation.schema.raw_schema).declared:
            return None
        ownership = binding_of(case.operation.schema.raw_schema)
        return ownership.mint(owner_of(case) or ownership.caller)

    def set(self, case: Case[Any], data: str, ctx: Any) -> None:
        case.headers["Authorization"] = f"Bearer {data}"
