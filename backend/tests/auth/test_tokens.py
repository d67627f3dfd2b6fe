"""auth/tokens.py: one test per acceptance rule and per rejection reason."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from datetime import UTC, datetime

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures.api import mint
from fixtures.keys import OTHER_SECRET, SECRET
from todo_api.auth.tokens import AuthError, TokenVerifier, VerifierConfig

pytestmark = pytest.mark.unit


def verifier(**overrides: object) -> TokenVerifier:
    values: dict[str, object] = {"secrets": (SECRET.encode(),), "algorithms": ("HS256",)}
    values.update(overrides)
    return TokenVerifier(VerifierConfig(**values))  # type: ignore[arg-type]


def rejected(token: str, **overrides: object) -> str:
    with pytest.raises(AuthError) as caught:
        verifier(**overrides).verify(token)
    assert token not in caught.value.reason
    return caught.value.reason


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_valid_token_gives_typed_claims() -> None:
    exp = int(time.time()) + 600
    token = mint("user-1", email="u@example.com", name="U", exp=exp)
    claims = verifier().verify(token)
    assert claims.subject == "user-1"
    assert claims.email == "u@example.com"
    assert claims.name == "U"
    assert claims.expires_at == datetime.fromtimestamp(exp, tz=UTC)


def test_email_and_name_are_optional() -> None:
    claims = verifier().verify(mint("user-1"))
    assert (claims.email, claims.name) == (None, None)


def test_token_without_typ_header_is_accepted() -> None:
    # Better Auth's tokens carry only alg (and kid); requiring typ would refuse all of them.
    bare = mint("user-1", headers={"typ": None})
    assert "typ" not in jwt.get_unverified_header(bare)
    assert verifier().verify(bare).subject == "user-1"


def test_expired_token_is_rejected() -> None:
    assert rejected(mint(ttl=-120)) == "token expired"


def test_leeway_tolerates_small_clock_skew() -> None:
    assert verifier(leeway_seconds=30).verify(mint(ttl=-10)).subject == "alice"
    assert rejected(mint(ttl=-10), leeway_seconds=0) == "token expired"


def test_not_yet_valid_token_is_rejected() -> None:
    assert rejected(mint(nbf=int(time.time()) + 600)) == "token not yet valid"


def test_issued_in_the_future_is_rejected() -> None:
    assert rejected(mint(iat=int(time.time()) + 600)) == "token not yet valid"


def test_wrong_signature_is_rejected() -> None:
    assert rejected(mint(secret=OTHER_SECRET)) == "signature verification failed"


def test_tampered_subject_is_rejected() -> None:
    header, _, signature = mint("alice").split(".")
    now = int(time.time())
    forged = f"{header}.{_b64({'sub': 'bob', 'exp': now + 300, 'iat': now})}.{signature}"
    assert rejected(forged) == "signature verification failed"


def test_alg_none_is_rejected() -> None:
    now = int(time.time())
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'sub': 'a', 'exp': now + 60})}."
    assert rejected(token) == "algorithm not allowed"


def test_algorithm_not_configured_is_rejected() -> None:
    assert rejected(mint(algorithm="HS512", secret=SECRET * 2)) == "algorithm not allowed"


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_asymmetric_token_is_rejected_in_secret_mode(alg: str) -> None:
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if alg == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    now = int(time.time())
    token = jwt.encode({"sub": "a", "exp": now + 60}, key, algorithm=alg)  # type: ignore[arg-type]
    assert rejected(token) == "algorithm not allowed"


def test_none_can_never_be_configured() -> None:
    with pytest.raises(ValueError, match="unsupported algorithms"):
        verifier(algorithms=("none",))


@pytest.mark.parametrize("claim", ["exp", "sub"])
def test_required_claim_missing_is_rejected(claim: str) -> None:
    assert rejected(mint(omit=(claim,))) == f"missing claim: {claim}"


@pytest.mark.parametrize("sub", [42, "", "has space", "a/b", "x" * 129, ["alice"], None], ids=repr)
def test_bad_subject_is_rejected(sub: object) -> None:
    reason = rejected(mint(sub))
    assert reason in {"invalid claim: sub", "missing claim: sub"}


@pytest.mark.parametrize("exp", ["9999999999", 1e300], ids=repr)
def test_exp_must_be_a_representable_number(exp: object) -> None:
    # PyJWT would take int("9999999999"); a string is not a NumericDate (RFC 7519 §2).
    assert rejected(mint(exp=exp)) == "invalid claim: exp"


def test_boolean_exp_is_rejected() -> None:
    rejected(mint(exp=True))


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_time_claims_must_be_numbers(claim: str) -> None:
    assert rejected(mint(**{claim: "1700000000"})) in {
        f"invalid claim: {claim}",
        "malformed token",
    }


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("email", 7),
        ("name", ["x"]),
        ("emailVerified", "yes"),
        ("email", "a" * 321),
        ("name", "n" * 1001),
    ],
    ids=["email-number", "name-list", "verified-string", "email-too-long", "name-too-long"],
)
def test_optional_claims_must_have_their_type_and_bounds(claim: str, value: object) -> None:
    assert rejected(mint(**{claim: value})) == f"invalid claim: {claim}"


def test_better_auth_and_oidc_email_verified_are_read() -> None:
    assert verifier().verify(mint(emailVerified=True)).email_verified is True
    assert verifier().verify(mint(email_verified=False)).email_verified is False
    assert verifier().verify(mint()).email_verified is None


def test_issuer_is_checked_when_configured() -> None:
    v = verifier(issuer="https://auth.example")
    assert v.verify(mint(iss="https://auth.example")).subject == "alice"
    assert rejected(mint(iss="https://evil.example"), issuer="https://auth.example") == (
        "wrong issuer"
    )
    assert rejected(mint(), issuer="https://auth.example") == "missing claim: iss"


def test_audience_is_checked_when_configured() -> None:
    v = verifier(audience="https://api.example")
    assert v.verify(mint(aud="https://api.example")).subject == "alice"
    assert v.verify(mint(aud=["other", "https://api.example"])).subject == "alice"
    assert rejected(mint(aud="https://other.example"), audience="https://api.example") == (
        "wrong audience"
    )
    assert rejected(mint(), audience="https://api.example") == "missing claim: aud"


def test_token_with_audience_is_refused_when_none_is_configured() -> None:
    # RFC 7519 §4.1.3: we cannot tell that a token minted for some audience was meant for us.
    assert rejected(mint(aud="https://some-other-service.example")) == "wrong audience"


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b", "a.b.c", "!!!.???.***", "eyJhbGciOiJIUzI1NiJ9.e30"], ids=repr
)
def test_malformed_token_is_rejected(token: str) -> None:
    with pytest.raises(AuthError, match=r"malformed token|invalid token"):
        verifier().verify(token)


def test_oversized_token_is_rejected_unparsed() -> None:
    assert rejected(mint(padding="x" * 10_000)) == "token too large"


@given(st.text(max_size=300) | st.from_regex(r"[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"))
@settings(max_examples=300, deadline=None)
def test_any_string_is_claims_or_auth_error_never_a_crash(token: str) -> None:
    with contextlib.suppress(AuthError):
        verifier().verify(token)


@given(
    header=st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "crit", "jku", "b64"]),
        st.none()
        | st.booleans()
        | st.integers()
        | st.text(max_size=10)
        | st.lists(st.text(max_size=5), max_size=2),
    ),
    payload=st.dictionaries(
        st.sampled_from(["sub", "exp", "nbf", "iat", "iss", "aud", "email"]),
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    ),
)
@settings(max_examples=300, deadline=None)
def test_hostile_headers_and_claims_never_crash(
    header: dict[str, object], payload: dict[str, object]
) -> None:
    token = f"{_b64(header)}.{_b64(payload)}.c2ln"
    with pytest.raises(AuthError):
        verifier().verify(token)
