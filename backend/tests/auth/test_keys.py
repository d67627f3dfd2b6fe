"""auth/keys.py and JWKS verification in auth/tokens.py, against an in-memory issuer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from fixtures.api import SECRET, forge_hs256
from fixtures.fake_issuer import new_key, public_jwk, sign
from todo_api.auth.keys import JwksCache, StaleKeys
from todo_api.auth.tokens import AuthError, TokenVerifier, UnknownKey, VerifierConfig

pytestmark = [pytest.mark.unit, pytest.mark.anyio]

ALL = ("HS256", "EdDSA", "ES256", "ES512", "RS256", "PS256")


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


def cache_for(
    issuer: Issuer, clock: Clock | None = None, min_refetch: float = 30, **options: Any
) -> JwksCache:
    return JwksCache(
        "https://auth.example/api/auth/jwks",
        min_refetch_seconds=min_refetch,
        transport=issuer.transport(),
        clock=clock or Clock(),
        **options,
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


# -- maximum age while the issuer cannot confirm the keys (issue 19) -----------------------------

DAY = 86400


async def test_keys_unconfirmed_for_the_maximum_age_are_stale() -> None:
    issuer = Issuer()
    key = issuer.publish("EdDSA", "k1")
    clock = Clock()
    cache = cache_for(issuer, clock, max_stale_seconds=DAY)
    await cache.refresh()
    verifier = verifier_for(cache)
    generation = cache.generation
    issuer.down = True

    clock.now += DAY - 1  # a long outage, still within the maximum age: cached keys serve
    assert not await cache.refresh()
    assert verifier.verify(sign(key, "EdDSA", "k1")).subject == "alice"
    assert cache.ready
    assert cache.generation is generation

    clock.now += 1
    with pytest.raises(StaleKeys, match="signing keys are stale"):
        verifier.verify(sign(key, "EdDSA", "k1"))
    assert not cache.ready
    assert cache.generation is not generation  # cached verifications are dropped too
    assert cache.status() == (
        f"signing keys from {cache.url} are stale: last confirmed 86400 s ago, more than "
        "AUTH_JWKS_MAX_STALE_SECONDS (86400); last refresh: issuer unreachable "
        "(ConnectError: issuer unreachable)"
    )

    issuer.down = False  # the issuer confirms the key again: it serves again
    assert await cache.refresh()
    assert verifier.verify(sign(key, "EdDSA", "k1")).subject == "alice"
    assert cache.ready


async def test_a_kept_malformed_entry_ages_out_while_the_other_keys_stay_fresh() -> None:
    issuer = Issuer()
    kept = issuer.publish("EdDSA", "k1")
    fresh = issuer.publish("EdDSA", "k2")
    clock = Clock()
    cache = cache_for(issuer, clock, max_stale_seconds=DAY)
    await cache.refresh()
    verifier = verifier_for(cache)
    issuer.keys["k1"] = issuer.keys["k1"] | {"x": 42}
    for _ in range(4):  # refreshes every 6 h confirm k2 only
        clock.now += DAY / 4
        assert await cache.refresh()
    with pytest.raises(StaleKeys):
        verifier.verify(sign(kept, "EdDSA", "k1"))
    assert verifier.verify(sign(fresh, "EdDSA", "k2")).subject == "alice"
    assert cache.ready
    assert cache.rejected_entries == 4


async def test_a_refresh_that_changes_nothing_keeps_the_generation() -> None:
    """Verified tokens stay cached across the scheduled refresh when the key set is the same."""
    issuer = Issuer()
    issuer.publish("EdDSA", "k1")
    cache = cache_for(issuer)
    await cache.refresh()
    generation = cache.generation
    assert await cache.refresh()
    assert cache.generation is generation
    issuer.publish("EdDSA", "k2")
    assert await cache.refresh()
    assert cache.generation is not generation


async def test_a_caller_that_goes_away_does_not_cancel_the_shared_fetch() -> None:
    issuer = Issuer()
    issuer.publish("EdDSA", "k1")
    gate = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await gate.wait()
        return httpx.Response(200, json={"keys": list(issuer.keys.values())})

    cache = JwksCache("https://auth.example/jwks", transport=httpx.MockTransport(slow))
    first = asyncio.create_task(cache.refresh_for_unknown_kid())
    await asyncio.sleep(0.01)  # the fetch is in flight
    second = asyncio.create_task(cache.refresh_for_unknown_kid())
    await asyncio.sleep(0.01)
    first.cancel()  # its client hung up
    gate.set()
    assert await second  # the fetch it shared went on
    assert first.cancelled()
    assert cache.get("k1") is not None


async def test_an_unexpected_error_fails_the_refresh_and_the_refresher_lives_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0
    second_refresh = asyncio.Event()

    def broken(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 2:
            second_refresh.set()
        raise RuntimeError("a bug below us")

    cache = JwksCache(
        "https://auth.example/jwks", refresh_seconds=0.01, transport=httpx.MockTransport(broken)
    )
    runner = asyncio.create_task(cache.run())
    with anyio.fail_after(5):  # generous: a loaded machine may take a while per refresh
        await second_refresh.wait()  # still refreshing after the first failure
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    assert cache.last_error == "refresh failed (RuntimeError)"
    assert any(r.getMessage() == "jwks refresh crashed" for r in caplog.records)


async def test_stopping_the_refresher_cancels_the_fetch_in_flight() -> None:
    started = asyncio.Event()

    async def never(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    cache = JwksCache("https://auth.example/jwks", transport=httpx.MockTransport(never))
    runner = asyncio.create_task(cache.run())
    await started.wait()
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    fetches = [t for t in asyncio.all_tasks() if "JwksCache._fetch" in repr(t.get_coro())]
    assert fetches == []  # nothing left running past shutdown


async def test_a_key_marked_for_encryption_is_withdrawn_and_an_odd_use_is_malformed() -> None:
    issuer = Issuer()
    encryption = issuer.publish("EdDSA", "enc")
    odd = issuer.publish("EdDSA", "odd")
    issuer.publish("EdDSA", "other")
    cache = cache_for(issuer)
    await cache.refresh()
    issuer.keys["enc"] = issuer.keys["enc"] | {"use": "enc"}  # well-formed: not a signing key
    issuer.keys["odd"] = issuer.keys["odd"] | {"use": 5}  # malformed: the last good key stays
    assert await cache.refresh()
    verifier = verifier_for(cache)
    with pytest.raises(UnknownKey):
        verifier.verify(sign(encryption, "EdDSA", "enc"))
    assert verifier.verify(sign(odd, "EdDSA", "odd")).subject == "alice"
    assert cache.rejected_entries == 1
