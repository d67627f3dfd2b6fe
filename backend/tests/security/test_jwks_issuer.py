"""auth/keys.py against a hostile JWKS issuer on a real loopback socket (fixtures/fake_issuer.py).

Each probe of issue 19 as a test: an issuer that drips, hangs, sends 50 MB, sends junk or no
usable key, breaks or removes a key. Time bounds are the fetch deadline plus 2 s (generous on a
loaded machine, far below what the probes measured before: 60 s per fetch, 180 s per request);
`anyio.fail_after` ends a regressed test at that bound instead of waiting the old delays out.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import re
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from fixtures.api import asgi_client, make_settings, running_app
from fixtures.fake_issuer import FakeIssuer, fake_issuer, new_key, public_jwk, sign
from fixtures.live_server import free_port
from todo_api.auth.keys import MAX_JWKS_BYTES, JwksCache
from todo_api.auth.tokens import TokenVerifier, UnknownKey, VerifierConfig

pytestmark = pytest.mark.anyio

TIMEOUT = 0.5  # where the deadline is what a test is about
BOUND = TIMEOUT + 2
# Where a fetch is expected to succeed (or to be refused for its content): a deadline no loaded
# machine misses, so that only the behaviour under test can fail these tests.
GENEROUS = 5.0
MiB = 1024 * 1024


@pytest.fixture
def issuer() -> Iterator[FakeIssuer]:
    with fake_issuer() as running:
        yield running


def cache_for(issuer: FakeIssuer, timeout: float = GENEROUS) -> JwksCache:
    return JwksCache(issuer.url, timeout_seconds=timeout)


def verifier_for(cache: JwksCache) -> TokenVerifier:
    return TokenVerifier(VerifierConfig(algorithms=("EdDSA", "ES256"), jwks=cache))


async def warm_cache(issuer: FakeIssuer) -> tuple[JwksCache, Any]:
    """A cache holding one good key, `k1`, and that key's private half."""
    key = issuer.publish("EdDSA", "k1")
    cache = cache_for(issuer)
    assert await cache.refresh()
    return cache, key


def still_verifies(cache: JwksCache, key: Any, kid: str = "k1") -> bool:
    return verifier_for(cache).verify(sign(key, "EdDSA", kid)).subject == "alice"


# -- the fetch: bounded in time and in size ------------------------------------------------------


async def test_a_dripping_issuer_is_cut_at_the_deadline_and_the_keys_are_kept(
    issuer: FakeIssuer,
) -> None:
    cache, key = await warm_cache(issuer)
    cache.timeout_seconds = TIMEOUT
    issuer.behaviour = "drip"  # a byte every 50 ms: each read is quick, the whole takes ~7 s
    started = time.monotonic()
    with anyio.fail_after(BOUND):
        assert not await cache.refresh()
    assert time.monotonic() - started >= TIMEOUT * 0.9  # it was the deadline, not a refusal
    assert "no complete answer within AUTH_JWKS_TIMEOUT_SECONDS (0.5 s)" in (cache.last_error or "")
    assert cache.failed_refreshes == 1
    assert still_verifies(cache, key)


async def test_a_silent_issuer_leaves_a_cold_cache_not_ready_with_the_reason(
    issuer: FakeIssuer,
) -> None:
    issuer.behaviour = "hang"
    cache = cache_for(issuer, timeout=TIMEOUT)
    with anyio.fail_after(BOUND):
        assert not await cache.refresh()
    assert not cache.ready
    assert "no complete answer within" in cache.status()


async def test_a_50_mb_document_is_cut_at_the_cap_while_streaming(issuer: FakeIssuer) -> None:
    cache, key = await warm_cache(issuer)
    issuer.behaviour = "huge"  # chunked: no length announced, the size shows only while reading
    tracemalloc.start()
    try:
        with anyio.fail_after(GENEROUS + 2):
            assert not await cache.refresh()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"document larger than {MAX_JWKS_BYTES} bytes" in (cache.last_error or "")
    # What the issuer got into the socket bounds what we read: the cap plus socket buffers.
    assert issuer.body_bytes_sent < 16 * MiB, issuer.body_bytes_sent
    assert peak < 8 * MiB, peak  # the 50 MB were never held
    assert cache.rejected_refreshes == 1
    assert still_verifies(cache, key)


async def test_a_declared_giant_length_is_refused_before_any_body(issuer: FakeIssuer) -> None:
    cache, key = await warm_cache(issuer)
    issuer.behaviour = "declare-huge"  # Content-Length: 50 MB, then nothing: only headers count
    with anyio.fail_after(GENEROUS + 2):
        assert not await cache.refresh()
    assert f"document larger than {MAX_JWKS_BYTES} bytes" in (cache.last_error or "")
    assert still_verifies(cache, key)


async def test_a_compressed_answer_is_refused_unread(issuer: FakeIssuer) -> None:
    """gzip inflates ~1000:1 inside one read, before any size check: we ask for identity and
    refuse anything else (here a valid document, so only the refusal can fail the refresh)."""
    cache, key = await warm_cache(issuer)
    issuer.publish("EdDSA", "k2")
    issuer.body = gzip.compress(issuer.document())
    issuer.extra_headers = "Content-Encoding: gzip\r\n"
    assert not await cache.refresh()
    assert cache.last_error == "compressed answer (gzip) refused"
    assert cache.get("k2") is None
    assert still_verifies(cache, key)


# -- the content: only usable keys replace good ones ---------------------------------------------

UNUSABLE = [
    {"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": "short-x"},
    {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "kid": "off-curve"},
    {"kty": "RSA", "n": "!!", "e": "AQAB", "kid": "bad-n"},
    {"kty": "oct", "k": "c2VjcmV0", "alg": "HS256", "kid": "symmetric"},
    {"kty": "OKP", "crv": "Ed25519", "kid": "no-x"},
    {"kty": "OKP", "crv": "X25519", "x": "A" * 43, "kid": "not-for-signing"},
    {"kty": "EC", "crv": "P-256", "x": 1, "y": [], "kid": "not-strings"},
    # Well-formed keys PyJWT builds, for algorithms we do not verify with.
    public_jwk(new_key("RS256"), "RS256", "rs512") | {"alg": "RS512"},
    json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1()).public_key()))
    | {"kid": "p-384"},
]


@pytest.mark.parametrize(
    ("body", "error", "rejected_entries"),
    [
        (b"<html>maintenance</html>", "not a JWKS document (not JSON)", 0),
        (b"[" * 100_000, "not a JWKS document (not JSON)", 0),
        (b'{"keys": "nope"}', 'not a JWKS document (no "keys" list)', 0),
        (b'{"keys": []}', "no usable key in the document (0 entries rejected)", 0),
        (b'{"keys": [1, "x", null]}', "no usable key in the document (3 entries rejected)", 3),
        (
            json.dumps({"keys": UNUSABLE}).encode(),
            f"no usable key in the document ({len(UNUSABLE)} entries rejected)",
            len(UNUSABLE),
        ),
    ],
    ids=["html", "deep-nesting", "keys-not-list", "empty", "junk-entries", "unusable"],
)
async def test_a_document_with_no_usable_key_keeps_the_last_good_keys(
    issuer: FakeIssuer, body: bytes, error: str, rejected_entries: int
) -> None:
    cache, key = await warm_cache(issuer)
    issuer.body = body
    assert not await cache.refresh()
    assert cache.last_error == error
    assert (cache.rejected_refreshes, cache.rejected_entries) == (1, rejected_entries)
    assert cache.ready
    assert still_verifies(cache, key)


async def test_an_error_status_keeps_the_keys_and_names_the_status(issuer: FakeIssuer) -> None:
    cache, key = await warm_cache(issuer)
    issuer.status = 503
    assert not await cache.refresh()
    assert cache.last_error == "HTTP 503 from the issuer"
    assert cache.failed_refreshes == 1
    assert still_verifies(cache, key)


async def test_a_malformed_entry_keeps_its_kids_key_and_only_a_removal_withdraws_it(
    issuer: FakeIssuer,
) -> None:
    cache, key = await warm_cache(issuer)
    issuer.keys["k1"] = issuer.keys["k1"] | {"x": "not-a-key"}
    new = issuer.publish("ES256", "k2")
    assert await cache.refresh()  # k2 is usable: the document is taken, k1's entry is not
    assert cache.rejected_entries == 1
    assert still_verifies(cache, key)
    assert verifier_for(cache).verify(sign(new, "ES256", "k2")).subject == "alice"

    del issuer.keys["k1"]  # a well-formed document that no longer lists k1
    assert await cache.refresh()
    with pytest.raises(UnknownKey):
        still_verifies(cache, key)


async def test_a_key_good_again_replaces_the_kept_one(issuer: FakeIssuer) -> None:
    cache, old = await warm_cache(issuer)
    good = issuer.keys["k1"]
    issuer.keys["k1"] = good | {"crv": "P-256"}
    issuer.publish("EdDSA", "k2")
    assert await cache.refresh()
    replacement = new_key("EdDSA")
    issuer.keys["k1"] = public_jwk(replacement, "EdDSA", "k1")
    assert await cache.refresh()
    assert still_verifies(cache, replacement)
    with pytest.raises(Exception, match="signature verification failed"):
        still_verifies(cache, old)


# -- through the app: concurrent requests and /readyz --------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def first_fetch_done(client: httpx.AsyncClient) -> httpx.Response:
    """/readyz once the first scheduled fetch has ended (its answer while it runs is 'not
    fetched yet')."""
    with anyio.fail_after(GENEROUS + 2):
        while True:
            ready = await client.get("/readyz")
            if ready.status_code == 200 or "not fetched yet" not in ready.text:
                return ready
            await anyio.sleep(0.02)


@asynccontextmanager
async def app_client(
    tmp_path: Path, jwks_url: str, **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    values = {
        "AUTH_JWKS_URL": jwks_url,
        "AUTH_JWKS_TIMEOUT_SECONDS": GENEROUS,
        # The issuer is the point here: the failed-auth throttle (which would answer the
        # storm's later requests 429 without a fetch) has tests of its own.
        "RATE_LIMIT_AUTH_FAILURES": "off",
        **settings,
    }
    async with running_app(make_settings(tmp_path, **values)) as app, asgi_client(app) as client:
        yield client


async def test_100_unknown_kid_requests_against_a_slow_issuer_share_one_bounded_fetch(
    issuer: FakeIssuer, tmp_path: Path
) -> None:
    issuer.publish("EdDSA", "k1")  # a document of ~130 bytes: ~7 s at a byte per 50 ms
    issuer.behaviour = "drip"  # from the start: the app's first fetch is in flight, and slow
    # The pause between refetches is shorter than the fetch deadline: counted from a fetch's
    # start, it would allow fetches back to back.
    timeout, pause = 1.0, 0.6
    settings = {"AUTH_JWKS_TIMEOUT_SECONDS": timeout, "AUTH_JWKS_MIN_REFETCH_SECONDS": pause}
    async with app_client(tmp_path, issuer.url, **settings) as client:
        tokens = [sign(new_key("EdDSA"), "EdDSA", f"random-{n}") for n in range(100)]
        waits: list[float] = []
        answered = asyncio.Event()

        async def call(token: str) -> httpx.Response:
            started = time.monotonic()
            response = await client.get("/api/alice/tasks", headers=bearer(token))
            waits.append(time.monotonic() - started)
            answered.set()
            return response

        async def straight_after() -> list[httpx.Response]:
            # As soon as the fetch has given up: the pause holds, no fetch back to back.
            await answered.wait()
            return await asyncio.gather(*(call(token) for token in tokens[:10]))

        with anyio.fail_after(timeout + 2):
            storm, again = await asyncio.gather(
                asyncio.gather(*(call(token) for token in tokens)), straight_after()
            )
        assert {r.status_code for r in storm + again} == {401}
        assert all("unknown signing key" in r.headers["www-authenticate"] for r in storm + again)
        assert max(waits) < timeout + 2
        assert issuer.requests == 1


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("nothing-listens", "issuer unreachable (ConnectError"),
        ("hang", "no complete answer within AUTH_JWKS_TIMEOUT_SECONDS (0.5 s)"),
        ("huge", f"document larger than {MAX_JWKS_BYTES} bytes"),
        ("empty", "no usable key in the document (0 entries rejected)"),
        ("junk", "not a JWKS document (not JSON)"),
        ("status", "HTTP 502 from the issuer"),
    ],
)
async def test_readyz_says_what_the_failed_fetch_ran_into(
    issuer: FakeIssuer, tmp_path: Path, setup: str, reason: str
) -> None:
    url, timeout = issuer.url, TIMEOUT if setup == "hang" else GENEROUS
    if setup == "nothing-listens":
        url = f"http://127.0.0.1:{free_port()}/api/auth/jwks"
    elif setup in ("hang", "huge"):
        issuer.behaviour = setup  # type: ignore[assignment]
    elif setup == "status":
        issuer.status = 502
    else:
        issuer.body = b'{"keys": []}' if setup == "empty" else b"<html>"
    async with app_client(tmp_path, url, AUTH_JWKS_TIMEOUT_SECONDS=timeout) as client:
        ready = await first_fetch_done(client)
    assert ready.status_code == 503
    assert ready.json()["detail"].startswith(f"no signing keys from {url}: {reason}")


class ShiftedClock:
    """The monotonic clock, moved forward at will: a day of outage in no time."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


async def test_keys_past_the_maximum_age_get_401_and_readyz_says_they_are_stale(
    issuer: FakeIssuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ShiftedClock()
    monkeypatch.setattr("todo_api.auth.keys.JwksCache", functools.partial(JwksCache, clock=clock))
    key = issuer.publish("EdDSA", "k1")
    token = sign(key, "EdDSA", "k1")
    settings = {"AUTH_JWKS_MAX_STALE_SECONDS": 3600, "AUTH_JWKS_MIN_REFETCH_SECONDS": 0}
    async with app_client(tmp_path, issuer.url, **settings) as client:
        assert (await first_fetch_done(client)).status_code == 200
        assert (await client.get("/api/alice/tasks", headers=bearer(token))).status_code == 200

        issuer.status = 503  # the issuer can no longer confirm the keys
        unknown = sign(new_key("EdDSA"), "EdDSA", "other")
        assert (await client.get("/api/alice/tasks", headers=bearer(unknown))).status_code == 401
        clock.offset = 3590  # an outage shorter than the maximum age: availability wins
        assert (await client.get("/api/alice/tasks", headers=bearer(token))).status_code == 200

        clock.offset = 3610  # longer: revocation wins, even for a token verified before
        refused = await client.get("/api/alice/tasks", headers=bearer(token))
        assert refused.status_code == 401
        assert 'error_description="signing keys are stale"' in refused.headers["www-authenticate"]
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert re.fullmatch(
            rf"signing keys from {re.escape(issuer.url)} are stale: last confirmed 36[1-2]\d s "
            r"ago, more than AUTH_JWKS_MAX_STALE_SECONDS \(3600\); last refresh: HTTP 503 from "
            r"the issuer",
            ready.json()["detail"],
        ), ready.json()["detail"]

        issuer.status = 200  # back: the next request's refetch confirms the key again
        assert (await client.get("/api/alice/tasks", headers=bearer(token))).status_code == 200
        assert (await client.get("/readyz")).status_code == 200


# -- the keys' own rules, through the app ---------------------------------------------------------


async def test_a_keys_own_alg_binds_it_through_the_app(issuer: FakeIssuer, tmp_path: Path) -> None:
    # An RSA key published for RS256 does not verify the same key's PS256 signature, although
    # both algorithms are allowed (the unit test checks the verifier alone).
    key = issuer.publish("RS256", "k1")
    async with app_client(tmp_path, issuer.url, AUTH_ALGORITHMS="RS256,PS256") as client:
        assert (await first_fetch_done(client)).status_code == 200
        own = await client.get("/api/alice/tasks", headers=bearer(sign(key, "RS256", "k1")))
        other = await client.get("/api/alice/tasks", headers=bearer(sign(key, "PS256", "k1")))
    assert (own.status_code, other.status_code) == (200, 401)
    assert "key algorithm mismatch" in other.headers["www-authenticate"]


async def test_a_token_verified_before_a_key_is_withdrawn_is_refused_after(
    issuer: FakeIssuer, tmp_path: Path
) -> None:
    # The token cache keeps verified tokens; a key set without their key must drop them at once,
    # not when their cache entry ages out.
    old = issuer.publish("EdDSA", "k1")
    token = sign(old, "EdDSA", "k1")
    settings = {"AUTH_ALGORITHMS": "EdDSA", "AUTH_JWKS_MIN_REFETCH_SECONDS": 0}
    async with app_client(tmp_path, issuer.url, **settings) as client:
        assert (await first_fetch_done(client)).status_code == 200
        assert (await client.get("/api/alice/tasks", headers=bearer(token))).status_code == 200
        del issuer.keys["k1"]  # rotated out: the document now lists k2 only
        new = issuer.publish("EdDSA", "k2")
        # A token of the new key makes the service fetch the key set again.
        fresh = await client.get("/api/alice/tasks", headers=bearer(sign(new, "EdDSA", "k2")))
        assert fresh.status_code == 200
        refused = await client.get("/api/alice/tasks", headers=bearer(token))
    assert refused.status_code == 401
