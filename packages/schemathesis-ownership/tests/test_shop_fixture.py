"""Owner implied by the token, on an API written the way FastAPI's tutorial teaches
(ownership_fixtures/shop.py: OAuth2PasswordBearer, a bare `Bearer` challenge, numeric order ids,
client-chosen book slugs, a spec FastAPI generates, no declarations): the correct shop passes,
each broken variant is caught with its own message."""

from __future__ import annotations

import pytest

from ownership_fixtures import shop
from ownership_fixtures.runs import ours_on

CAUGHT = {
    shop.ORDER_READ_BY_ID_ALONE: (
        "token_owned_isolation",
        "another user's GET of /orders/{order_id}",
        ": 200 (sent Authorization: Bearer ",
        "the owner's object",
    ),
    shop.ORDER_WRITE_BY_ID_ALONE: (
        "token_owned_isolation",
        "another user's PUT of /orders/{order_id}",
        "and it changed the owner's object",
    ),
    shop.ORDER_DELETE_BY_ID_ALONE: (
        "token_owned_isolation",
        "another user's DELETE of /orders/{order_id}",
        "and it removed the owner's object",
    ),
    shop.BOOK_READ_BY_TITLE_ALONE: (
        "token_owned_isolation",
        "another user's GET of /books/{title}",
        "the owner's object",
    ),
    shop.FOREIGN_ORDER_IS_403: (
        "token_owned_isolation",
        "another user's GET of /orders/{order_id}",
        ": 403 (sent",
        "a missing one 404",
    ),
    shop.EXPIRED_ACCEPTED: (
        "unauthenticated_replays",
        "with a token expired a day ago: 200, not 401",
        ": accepted",
    ),
    shop.UNSIGNED_CLAIMS_ACCEPTED: (
        "unauthenticated_replays",
        "with base64 JSON claims, unsigned: 200, not 401",
    ),
}


def test_the_correct_shop_passes() -> None:
    assert ours_on("shop", None) == ""


@pytest.mark.parametrize("flaw", shop.FLAWS)
def test_each_broken_shop_is_caught(flaw: str) -> None:
    check, *messages = CAUGHT[flaw]
    found = ours_on("shop", flaw)
    assert f"`{check}`" in found, found or "nothing found"
    for message in messages:
        assert message in found, found
