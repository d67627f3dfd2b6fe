"""Verify a bearer JWT into typed claims. Plain Python: no FastAPI, no request, no I/O.

Algorithms, key, issuer, audience and leeway come from configuration; the token's header only
names which of our algorithms it claims, and anything we did not configure is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from jwt.exceptions import InvalidSubjectError

# Same alphabet as the `user_id` path segment: a subject we could never match in a path is refused.
SUBJECT_PATTERN = re.compile(r"[A-Za-z0-9._~-]{1,128}")
# Real tokens are well under 2 KiB (Better Auth's carry the whole user row); refuse giants unparsed.
MAX_TOKEN_LENGTH = 8 * 1024


class AuthError(Exception):
    """The token is unacceptable. `reason` is short, safe to show, and never contains the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Claims:
    subject: str
    expires_at: datetime
    email: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class VerifierConfig:
    key: bytes
    algorithms: tuple[str, ...]
    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: int = 30


class TokenVerifier:
    """Holds the trusted key and policy; `verify` is safe to call concurrently."""

    def __init__(self, config: VerifierConfig) -> None:
        if not config.algorithms or "none" in {a.lower() for a in config.algorithms}:
            raise ValueError("a verifier needs at least one real algorithm")
        self._config = config
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
        config = self._config
        try:
            payload: dict[str, Any] = self._jwt.decode(
                token,
                key=config.key,
                algorithms=list(config.algorithms),
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
        return _claims_from(payload)


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
    if not isinstance(subject, str) or not SUBJECT_PATTERN.fullmatch(subject):
        raise AuthError("invalid claim: sub")
    try:
        expires_at = datetime.fromtimestamp(exp, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise AuthError("invalid claim: exp") from None
    return Claims(
        subject=subject,
        expires_at=expires_at,
        email=_optional_text(payload, "email"),
        name=_optional_text(payload, "name"),
    )


def _optional_text(payload: dict[str, Any], claim: str) -> str | None:
    value = payload.get(claim)
    if value is None:
        return None
    if not isinstance(value, str):
        raise AuthError(f"invalid claim: {claim}")
    return value
