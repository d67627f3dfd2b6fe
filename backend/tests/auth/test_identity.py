"""auth/identity.py without a database: the identity from the claims, current_user, path_owner."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from todo_api.auth.identity import Identity, current_user, path_owner
from todo_api.auth.tokens import Claims
from todo_api.errors import Forbidden, InvalidToken
from todo_api.scope import IDENTITY_KEY

pytestmark = pytest.mark.unit

EXPIRES = datetime(2030, 1, 1, tzinfo=UTC)


class _Request:
    def __init__(self, state: dict[str, object]) -> None:
        self.scope = {"state": state}


def test_identity_comes_from_claims() -> None:
    identity = Identity.from_claims(Claims("u1", EXPIRES, "u@example.com", "U"))
    assert (identity.user_id, identity.email, identity.name, identity.expires_at) == (
        "u1",
        "u@example.com",
        "U",
        EXPIRES,
    )


def test_current_user_reads_the_identity_the_middleware_set() -> None:
    identity = Identity("u1", None, None, EXPIRES)
    request = _Request({IDENTITY_KEY: identity})
    assert asyncio.run(current_user(request)) is identity  # type: ignore[arg-type]


def test_current_user_without_identity_is_401() -> None:
    with pytest.raises(InvalidToken):
        asyncio.run(current_user(_Request({})))  # type: ignore[arg-type]


def test_path_owner_accepts_the_tokens_own_user_id() -> None:
    identity = Identity("u1", None, None, EXPIRES)
    assert asyncio.run(path_owner("u1", identity)) is identity


@pytest.mark.parametrize("other", ["u2", "U1", "u1 ", "u"])
def test_path_owner_refuses_any_other_user_id(other: str) -> None:
    with pytest.raises(Forbidden):
        asyncio.run(path_owner(other, Identity("u1", None, None, EXPIRES)))
