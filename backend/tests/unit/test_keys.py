"""auth/keys.py and JWKS verification in auth/tokens.py, against an in-memory issuer."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from api_fixtures import SECRET, forge_hs256
from todo_api.auth.keys import JwksCache
from todo_api.auth.tokens import AuthError, TokenVerifier, UnknownKey, VerifierConfig

pytestmark = pytest.mark.anyio

ALL = ("HS256", "EdDSA", "ES256", "ES512", "RS256", "PS256")


def new_key(alg: str) -> Any:
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "ES512":
        return ec.generate_private_key(ec.SECP521R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: Any, alg: str, kid: str) -> dict[str, Any]:
    codec = {"EdDSA": OKPAlgorithm, "ES256": ECAlgorithm, "ES512": ECAlgorithm}.get(
        alg, RSAAlgorithm
    )
    jwk: dict[str, Any] = json.loads(codec.to_jwk(key.public_key()))  # type: ignore[attr-defined]
    return jwk | {"kid": kid, "alg": alg}


def sign(key: Any, alg: str, kid: str | None, sub: str = "alice", **extra: Any) -> str:
    now = int(time.time())
    headers = {"kid": kid} if kid else {}
    headers.update(extra.pop("headers", {}))
    return jwt.encode({"sub": sub, "iat": now, "exp": now + 300, **extra}, key, alg, headers)


@dataclass
class Issuer:
    """A JWKS endpoint in memory: keys can be published, withdrawn, or the issuer taken down."""

    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    down: bool = False
    hits: int = 0

    def publish(self, alg: str, kid: str) -> Any:
        private = new_key(alg)
        self.keys[kid] = public_jwk(private, alg, kid)
        return private

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.hits += 1
            if self.down:
                raise httpx.ConnectError("issuer unreachable", request=request)
            return httpx.Response(200, json={"keys": list(self.keys.values())})

        return httpx.MockTransport(handle)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cache_for(issuer: Issuer, clock: Clock | None = None, min_refetch: float = 30) -> JwksCache:
    return JwksCache(
        "https://auth.example/api/auth/jwks",
        min_refetch_seconds=min_refetch,
        transport=issuer.transport(),
        clock=clock or Clock(),
    )


def verifier_for(cache: JwksCache, *, algorithms: tuple[str, ...] = ALL) -> TokenVerifier:
    return TokenVerifier(
        VerifierConfig(algorithms=algorithms, secrets=(SECRET.encode(),), jwks=cache)
    )


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "ES512", "RS256", "PS256"])
async def test_every_better_auth_algorithm_verifies_by_kid(alg: str) -> None:
    issuer = Issuer()
    key = issuer.publish(alg, "k1")
    cache = cache_for(issuer)
    assert await cache.refresh()
    claims = verifier_for(cache).verify(sign(key, alg, "k1", email="a@example.com"))
    assert (claims.subject, claims.email) == ("alice", "a@example.com")


async def test_a_kid_we_do_not_hold_is_an_unknown_key() -> None:
    issuer = Issuer()
    issuer.publish("EdDSA", "k1")
    cache = cache_for(issuer)
    await cache.refresh()
    with pytest.raises(UnknownKey):
        verifier_for(cache).verify(sign(new_key("EdDSA"), "EdDSA", "k2"))


async def test_jwks_token_without_kid_is_refused() -> None:
    issuer = Issuer()
    key = issuer.publish("EdDSA", "k1")
    cache = cache_for(issuer)
    await cache.refresh()
    with pytest.raises(AuthError, match="missing kid"):
        verifier_for(cache).verify(sign(key, "EdDSA", None))


async def test_a_keys_own_alg_must_match_the_tokens() -> None:
    issuer = Issuer()
    key = issuer.publish("RS256", "k1")
    cache = cache_for(issuer)
    await cache.refresh()
    # Same RSA key, other algorithm: the key was published for RS256 only.
    with pytest.raises(AuthError, match="key algorithm mismatch"):
        verifier_for(cache).verify(sign(key, "PS256", "k1"))


async def test_wrong_key_type_for_the_alg_is_refused() -> None:
    issuer = Issuer()
    issuer.keys["k1"] = public_jwk(new_key("ES256"), "ES256", "k1") | {"alg": "EdDSA"}
    cache = cache_for(issuer)
    await cache.refresh()
    with pytest.raises(AuthError):
        verifier_for(cache).verify(sign(new_key("EdDSA"), "EdDSA", "k1"))


@pytest.mark.parametrize("encoding", ["pem", "jwk-json", "raw-x"])
async def test_hs256_forged_with_the_public_key_as_secret_is_refused(encoding: str) -> None:
    issuer = Issuer()
    key = issuer.publish("EdDSA", "k1")
    cache = cache_for(issuer)
    await cache.refresh()
    public = key.public_key()
    forged_secret = {
        "pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "jwk-json": json.dumps(issuer.keys["k1"]).encode(),
        "raw-x": issuer.keys["k1"]["x"].encode(),
    }[encoding]
    forged = forge_hs256({"sub": "alice", "exp": int(time.time()) + 300}, forged_secret, kid="k1")
    with pytest.raises(AuthError, match="signature verification failed"):
        verifier_for(cache).verify(forged)


@pytest.mark.parametrize("field", ["jwk", "jku", "x5u"])
async def test_keys_named_in_the_token_header_are_never_used(field: str) -> None:
    issuer = Issuer()
    issuer.publish("EdDSA", "k1")
    cache = cache_for(issuer)
    await cache.refresh()
    attacker = new_key("EdDSA")
    pointer: Any = {
        "jwk": public_jwk(attacker, "EdDSA", "k1"),
        "jku": "https://evil.example/jwks.json",
        "x5u": "https://evil.example/cert.pem",
    }[field]
    forged = sign(attacker, "EdDSA", "k1", headers={field: pointer})
    with pytest.raises(AuthError, match="signature verification failed"):
        verifier_for(cache).verify(forged)
    assert issuer.hits == 1  # nothing fetched from the token's pointers


async def test_unknown_kid_storm_causes_bounded_refetches() -> None:
    issuer = Issuer()
    issuer.publish("EdDSA", "k1")
    clock = Clock()
    cache = cache_for(issuer, clock, min_refetch=30)
    await cache.refresh()
    assert issuer.hits == 1

    # 200 requests with random kids, all at once: at most one refetch in the interval.
    results = await asyncio.gather(*(cache.refresh_for_unknown_kid() for _ in range(200)))
    assert issuer.hits == 1  # the scheduled fetch just happened: still within the interval
    assert not any(results)

    clock.now += 31
    await asyncio.gather(*(cache.refresh_for_unknown_kid() for _ in range(200)))
    assert issuer.hits == 2
    clock.now += 10
    await asyncio.gather(*(cache.refresh_for_unknown_kid() for _ in range(200)))
    assert issuer.hits == 2


async def test_issuer_down_with_a_warm_cache_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    issuer = Issuer()
    key = issuer.publish("ES256", "k1")
    cache = cache_for(issuer)
    await cache.refresh()
    issuer.down = True
    assert not await cache.refresh()
    assert cache.ready
    assert "issuer unreachable" in (cache.last_error or "")
    assert any(r.getMessage() == "jwks refresh failed" for r in caplog.records)
    assert verifier_for(cache).verify(sign(key, "ES256", "k1")).subject == "alice"


async def test_issuer_down_with_a_cold_cache_is_not_ready() -> None:
    issuer = Issuer(down=True)
    cache = cache_for(issuer)
    assert not await cache.refresh()
    assert not cache.ready
    assert "issuer unreachable" in cache.status()


async def test_a_key_withdrawn_from_the_jwks_stops_verifying() -> None:
    issuer = Issuer()
    old = issuer.publish("EdDSA", "old")
    new = issuer.publish("EdDSA", "new")
    cache = cache_for(issuer)
    await cache.refresh()
    verifier = verifier_for(cache)
    assert verifier.verify(sign(old, "EdDSA", "old")).subject == "alice"
    del issuer.keys["old"]
    await cache.refresh()
    with pytest.raises(UnknownKey):
        verifier.verify(sign(old, "EdDSA", "old"))
    assert verifier.verify(sign(new, "EdDSA", "new")).subject == "alice"


async def test_a_kid_republished_with_another_key_verifies_only_the_new_key() -> None:
    """Built public keys are reused per kid only while the key set holds that same entry."""
    issuer = Issuer()
    first = issuer.publish("EdDSA", "k1")
    cache = cache_for(issuer)
    await cache.refresh()
    verifier = verifier_for(cache)
    assert verifier.verify(sign(first, "EdDSA", "k1")).subject == "alice"  # builds and keeps it
    second = issuer.publish("EdDSA", "k1")
    await cache.refresh()
    with pytest.raises(AuthError, match="signature verification failed"):
        verifier.verify(sign(first, "EdDSA", "k1", sub="bob"))
    assert verifier.verify(sign(second, "EdDSA", "k1")).subject == "alice"


@pytest.mark.parametrize(
    "document",
    [b"not json", b"[]", b'{"keys": "nope"}', b'{"other": []}'],
    ids=["not-json", "list", "keys-not-list", "no-keys"],
)
async def test_a_broken_jwks_document_keeps_the_cache(document: bytes) -> None:
    issuer = Issuer()
    issuer.publish("EdDSA", "k1")
    cache = cache_for(issuer)
    await cache.refresh()

    cache._transport = httpx.MockTransport(lambda request: httpx.Response(200, content=document))
    assert not await cache.refresh()
    assert cache.get("k1") is not None


def test_previous_secret_verifies_during_rotation_and_stops_once_removed() -> None:
    old, new = "the-old-secret-being-rotated-out-0123456789", SECRET
    now = int(time.time())
    token = jwt.encode({"sub": "alice", "exp": now + 300}, old, algorithm="HS256")

    def with_secrets(*secrets: str) -> TokenVerifier:
        return TokenVerifier(
            VerifierConfig(algorithms=("HS256",), secrets=tuple(s.encode() for s in secrets))
        )

    assert with_secrets(new, old).verify(token).subject == "alice"
    with pytest.raises(AuthError, match="signature verification failed"):
        with_secrets(new).verify(token)
    # An expired token of the old secret reports expiry, not a signature failure.
    expired = jwt.encode({"sub": "a", "exp": now - 3600}, old, algorithm="HS256")
    with pytest.raises(AuthError, match="token expired"):
        with_secrets(new, old).verify(expired)
