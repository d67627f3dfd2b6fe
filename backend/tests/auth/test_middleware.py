"""auth/middleware.py: the Authorization header's parsing, without a database."""

from __future__ import annotations

import pytest

from fixtures.api import SECRET, mint
from todo_api.auth.middleware import AuthMiddleware
from todo_api.auth.tokens import TokenVerifier, VerifierConfig
from todo_api.errors import InvalidToken

pytestmark = pytest.mark.unit


def _gate() -> AuthMiddleware:
    verifier = TokenVerifier(VerifierConfig(algorithms=("HS256",), secrets=(SECRET.encode(),)))
    return AuthMiddleware(app=None, verifier=verifier)  # type: ignore[arg-type]


def _scope(*authorization: str) -> dict[str, object]:
    return {"headers": [(b"authorization", value.encode()) for value in authorization]}


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_bearer_scheme_is_case_insensitive(scheme: str) -> None:
    token = mint("u1")
    assert _gate()._bearer_token(_scope(f"{scheme} {token}")) == token


@pytest.mark.parametrize(
    ("values", "token_sent"),
    [
        ((), False),
        (("Basic dXNlcjpwYXNz",), False),
        (("Bearer",), True),
        (("Bearer a b",), True),
        (("Bearer x", "Bearer y"), True),
    ],
    ids=["absent", "basic", "empty", "two-parts", "two-headers"],
)
def test_malformed_authorization_is_refused(values: tuple[str, ...], token_sent: bool) -> None:
    with pytest.raises(InvalidToken) as caught:
        _gate()._bearer_token(_scope(*values))
    challenge = caught.value.headers["WWW-Authenticate"]
    assert ('error="invalid_token"' in challenge) is token_sent
