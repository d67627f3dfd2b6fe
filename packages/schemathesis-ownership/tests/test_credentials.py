"""The forged credentials: JWT-derived ones when the genuine credential is a JWT, non-JWT
shapes always, and the same shapes in whatever header or cookie a fixed user authenticates with."""

from __future__ import annotations

import base64
import json

import schemathesis_ownership as ownership
from schemathesis_ownership.credentials import forged_credentials

JWT = (
    ".".join(
        base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
        for part in ({"alg": "HS256"}, {"sub": "alice"})
    )
    + ".c2ln"
)


def test_a_jwt_gets_jwt_forgeries_and_every_non_jwt_shape() -> None:
    minted = ownership.Ownership(mint=lambda sub: JWT, forged=lambda sub: {"expired": "old"})
    sent = {f.label: dict(f.identity.headers) for f in forged_credentials(minted, "alice")}
    assert sent["no credentials"] == {}
    assert sent["expired"] == {"Authorization": "Bearer old"}
    assert sent["an unsigned JWT (alg none)"]["Authorization"].endswith(".")
    claims = sent["base64 JSON claims, unsigned"]["Authorization"].removeprefix("Bearer ")
    assert json.loads(base64.urlsafe_b64decode(claims + "==="))["sub"] == "alice"
    assert sent["the bare user id"] == {"Authorization": "Bearer alice"}
    assert sent["null"] == {"Authorization": "Bearer null"}
    assert sent["an empty credential"] == {"Authorization": "Bearer"}
    # The no-credentials probe comes first: it is the most dangerous one to accept.
    assert next(iter(sent)) == "no credentials"


def test_an_api_key_and_a_cookie_get_the_non_jwt_shapes_in_place() -> None:
    fixed = ownership.Ownership(
        identities=(
            ownership.Identity("alice", {"X-Api-Key": "k-alice"}, {"session": "s-alice"}),
            ownership.Identity("bob", {"X-Api-Key": "k-bob"}),
        )
    )
    forged = {f.label: f.identity for f in forged_credentials(fixed, "alice")}
    assert "an unsigned JWT (alg none)" not in forged
    assert forged["the bare user id"].headers == {"X-Api-Key": "alice"}
    assert forged["the bare user id"].cookies == {"session": "alice"}
    assert forged["no credentials"].headers == {}
