"""Read an issuer's JWKS document: the signing keys we can use, and what we refused.

The issuer is trusted for its keys, not for the shape of what it sends: an entry is usable only
if it is a public signing key of a type, curve and algorithm we verify with, carries its members,
and PyJWT can build a key from it. The rest is counted (and its `kid` noted, so that the cache can
keep the last good key of a `kid` whose entry turned malformed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from todo_api.auth.tokens import ASYMMETRIC_ALGORITHMS

# The algorithms a key of this type and curve can serve (RSA has no curve).
_ALGORITHMS_BY_KEY: dict[tuple[str, str | None], frozenset[str]] = {
    ("OKP", "Ed25519"): frozenset({"EdDSA"}),
    ("OKP", "Ed448"): frozenset({"EdDSA"}),
    ("EC", "P-256"): frozenset({"ES256"}),
    ("EC", "P-521"): frozenset({"ES512"}),
    ("RSA", None): frozenset({"RS256", "PS256"}),
}
_MEMBERS = {"OKP": ("x",), "EC": ("x", "y"), "RSA": ("n", "e")}


class NotAJwks(ValueError):
    """The body is no JWKS document at all: not JSON, or no `keys` list."""


@dataclass(frozen=True, slots=True)
class JwksDocument:
    usable: dict[str, Mapping[str, Any]]
    # Kids listed only with entries we refused: for those, the cache keeps its last good key.
    unusable_kids: frozenset[str]
    # Entries refused: not an object, no `kid`, malformed, or of a kind we do not verify with.
    rejected: int


def parse_jwks(body: bytes) -> JwksDocument:
    try:
        document = json.loads(body)
    # RecursionError: a body of 100,000 `[` is valid UTF-8 and kills the parser, not the refresher.
    except (ValueError, RecursionError):
        raise NotAJwks("not a JWKS document (not JSON)") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise NotAJwks('not a JWKS document (no "keys" list)')
    usable: dict[str, Mapping[str, Any]] = {}
    unusable: set[str] = set()
    rejected = 0
    for entry in document["keys"]:
        kid = entry.get("kid") if isinstance(entry, dict) else None
        if not isinstance(kid, str) or not kid:
            rejected += 1
            continue
        use = entry.get("use", "sig")
        if use == "enc":
            continue  # a key the issuer marks for encryption is well-formed, and not ours to use
        if use == "sig" and _usable(entry):
            usable[kid] = entry
        else:
            rejected += 1
            unusable.add(kid)
    return JwksDocument(usable, frozenset(unusable - usable.keys()), rejected)


def _usable(entry: dict[str, Any]) -> bool:
    kty, alg = entry.get("kty"), entry.get("alg")
    if not isinstance(kty, str) or kty not in _MEMBERS:
        return False
    curve = entry.get("crv") if kty != "RSA" else None
    algorithms = _ALGORITHMS_BY_KEY.get((kty, curve)) if isinstance(curve, str | None) else None
    if not algorithms or (
        alg is not None and alg not in algorithms.intersection(ASYMMETRIC_ALGORITHMS)
    ):
        return False
    if not all(isinstance(entry.get(member), str) for member in _MEMBERS[kty]):
        return False
    try:
        jwt.PyJWK(entry, algorithm=alg or min(algorithms))
    # Whatever a hostile entry makes PyJWT or cryptography raise, it only makes the entry unusable.
    except Exception:
        return False
    return True
