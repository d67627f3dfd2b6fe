"""Verify a bearer JWT into typed claims. Plain Python: no FastAPI, no request, no I/O.

Algorithms, keys, issuer, audience and leeway come from configuration. The token's header only
selects among keys we already trust: its `alg` must be one we allow, an HMAC `alg` is checked
against the shared secret(s) only and an asymmetric one against the JWKS keys only (so a public key
can never serve as an HMAC secret), and its `kid` picks a key from the set we fetched ourselves.
The header fields `jku`, `x5u`, `jwk` and `x5c` are never read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import jwt
from jwt.exceptions import InvalidSubjectError

# A user id: the token's `sub` and the `user_id` path segment (the contract's UserId). RFC 3986's
# unreserved characters, so an id is its own path segment; a subject we could never match in a
# path is refused.
USER_ID_CHARACTERS = "A-Za-z0-9._~-"
USER_ID_MAX_LENGTH = 128
USER_ID_PATTERN = re.compile(rf"^[{USER_ID_CHARACTERS}]{{1,{USER_ID_MAX_LENGTH}}}$")
# Real tokens are well under 2 KiB (Better Auth's carry the whole user row); refuse giants unparsed.
MAX_TOKEN_LENGTH = 8 * 1024
# The contract's bounds for what /api/me echoes back (RFC 5321 caps an address at 320 octets).
MAX_EMAIL, MAX_NAME = 320, 1000
# Verified against the shared secret(s) only.
HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
# Verified against the JWKS keys only: what Better Auth's JWT plugin can sign with (EdDSA/Ed25519
# by default). Ordered: the settings' default list follows it.
ASYMMETRIC_ALGORITHMS = ("EdDSA", "ES256", "ES512", "RS256", "PS256")
SUPPORTED_ALGORITHMS = frozenset(HMAC_ALGORITHMS + ASYMMETRIC_ALGORITHMS)


class AuthError(Exception):
    """The token is unacceptable. `reason` is short, safe to show, and never contains the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownKey(AuthError):
    """The token names a `kid` our key set does not hold (yet): a refetch may find it."""

    def __init__(self) -> None:
        super().__init__("unknown signing key")


class KeyLookup(Protocol):
    """The public keys we trust, by `kid` (an in-memory read: never blocks)."""

    def get(self, kid: str) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class Claims:
    subject: str
    expires_at: datetime
    email: str | None = None
    name: str | None = None
    email_verified: bool | None = None


# Building a key from its JWK is a measurable part of a verification, so built keys are kept
# (research P9 has the figures); at most this many, whatever a key set holds.
MAX_BUILT_KEYS = 64


@dataclass(frozen=True, slots=True)
class VerifierConfig:
    algorithms: tuple[str, ...]
    # HMAC secrets, current first, then those still accepted during a rotation window.
    secrets: tuple[bytes, ...] = ()
    jwks: KeyLookup | None = None
    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: int = 30


class TokenVerifier:
    """Holds the trusted keys and policy; `verify` is safe to call concurrently."""

    def __init__(self, config: VerifierConfig) -> None:
        allowed = set(config.algorithms)
        if not allowed or not allowed <= SUPPORTED_ALGORITHMS:
            raise ValueError(f"unsupported algorithms: {sorted(allowed)}")
        if allowed.intersection(HMAC_ALGORITHMS) and not config.secrets:
            raise ValueError("HMAC algorithms need a secret")
        if allowed.intersection(ASYMMETRIC_ALGORITHMS) and config.jwks is None:
            raise ValueError("asymmetric algorithms need a JWKS key source")
        self._config = config
        self._allowed = frozenset(allowed)
        # Public keys built from JWKS entries, by (kid, alg), with the entry they were built from:
        # reused only while the key set still holds that very entry (a refresh replaces them).
        self._built: dict[tuple[str, str], tuple[Mapping[str, Any], Any]] = {}
        self._jwt = jwt.PyJWT(
            options={
                "require": ["exp", "sub"],
                "verify_signature": True,
                "verify_exp": True,
                "verify_nbf": True,
                "verify_iat": True,
                "verify_iss": config.issuer is not None,
                # PyJWT rejects a token carrying `aud` when no audience is configured (RFC 7519
                # §4.1.3): a token minted for some other service is not ours to accept.
                "verify_aud": True,
                "verify_sub": True,
            }
        )

    def verify(self, token: str) -> Claims:
        if len(token) > MAX_TOKEN_LENGTH:
            raise AuthError("token too large")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise AuthError("malformed token") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._allowed:
            raise AuthError("algorithm not allowed")
        if alg in HMAC_ALGORITHMS:
            return _claims_from(self._verify_hmac(token, alg))
        return _claims_from(self._decode(token, self._public_key(header, alg), alg))

    def _verify_hmac(self, token: str, alg: str) -> dict[str, Any]:
        # The current secret first; previous ones only while a rotation window keeps them listed.
        for secret in self._config.secrets:
            try:
                return self._decode(token, secret, alg)
            except AuthError as exc:
                if exc.reason != "signature verification failed":
                    raise
        raise AuthError("signature verification failed")

    def _public_key(self, header: Mapping[str, Any], alg: str) -> Any:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("missing kid")
        assert self._config.jwks is not None  # guaranteed by __init__ for asymmetric algorithms
        jwk = self._config.jwks.get(kid)
        if jwk is None:
            raise UnknownKey()
        if jwk.get("alg", alg) != alg:
            raise AuthError("key algorithm mismatch")
        built = self._built.get((kid, alg))
        if built is not None and built[0] is jwk:
            return built[1]
        try:
            key = jwt.PyJWK(dict(jwk), algorithm=alg).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            raise AuthError("key algorithm mismatch") from None
        if len(self._built) >= MAX_BUILT_KEYS:  # kids only come from the key set: rotations
            self._built.clear()
        self._built[kid, alg] = (jwk, key)
        return key

    def _decode(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        config = self._config
        try:
            payload: dict[str, Any] = self._jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                issuer=config.issuer,
                audience=config.audience,
                leeway=config.leeway_seconds,
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("token not yet valid") from None
        except jwt.InvalidSignatureError:
            raise AuthError("signature verification failed") from None
        except jwt.InvalidAlgorithmError:
            raise AuthError("algorithm not allowed") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"missing claim: {exc.claim}") from None
        except jwt.InvalidIssuerError:
            raise AuthError("wrong issuer") from None
        except jwt.InvalidAudienceError:
            raise AuthError("wrong audience") from None
        except InvalidSubjectError:
            raise AuthError("invalid claim: sub") from None
        except jwt.InvalidIssuedAtError:
            raise AuthError("invalid claim: iat") from None
        except jwt.DecodeError:
            raise AuthError("malformed token") from None
        except jwt.InvalidTokenError:
            raise AuthError("invalid token") from None
        return payload


def _claims_from(payload: dict[str, Any]) -> Claims:
    # PyJWT coerces with int(), so "123" or true would pass as exp; we insist on JSON numbers.
    exp = payload["exp"]
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise AuthError("invalid claim: exp")
    for claim in ("nbf", "iat"):
        value = payload.get(claim)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise AuthError(f"invalid claim: {claim}")
    subject = payload["sub"]
    if not isinstance(subject, str) or not USER_ID_PATTERN.fullmatch(subject):
        raise AuthError("invalid claim: sub")
    try:
        expires_at = datetime.fromtimestamp(exp, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise AuthError("invalid claim: exp") from None
    return Claims(
        subject=subject,
        expires_at=expires_at,
        email=_optional(payload, "email", str, max_length=MAX_EMAIL),
        name=_optional(payload, "name", str, max_length=MAX_NAME),
        # Better Auth says `emailVerified`; OpenID Connect says `email_verified`.
        email_verified=_optional(payload, "emailVerified", bool)
        if "emailVerified" in payload
        else _optional(payload, "email_verified", bool),
    )


def _optional(
    payload: dict[str, Any], claim: str, kind: type, *, max_length: int | None = None
) -> Any:
    value = payload.get(claim)
    if value is None:
        return None
    if not isinstance(value, kind):
        raise AuthError(f"invalid claim: {claim}")
    if max_length is not None and isinstance(value, str) and len(value) > max_length:
        raise AuthError(f"invalid claim: {claim}")
    return value
