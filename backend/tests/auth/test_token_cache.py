"""TokenCache: a repeat token skips verification, never past exp, a key-set change or the bound."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from todo_api.auth.token_cache import TokenCache
from todo_api.auth.tokens import AuthError, Claims, UnknownKey

pytestmark = pytest.mark.unit

NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class FakeVerifier:
    """Token "sub:exp" verifies to that subject and expiry; "bad..." fails; counts its calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def verify(self, token: str) -> Claims:
        with self._lock:
            self.calls.append(token)
        if token.startswith("bad"):
            raise AuthError("signature verification failed")
        if token.startswith("unknown-kid"):
            raise UnknownKey()
        subject, _, exp = token.partition(":")
        expires = float(exp) if exp else NOW + 3600
        return Claims(subject=subject, expires_at=datetime.fromtimestamp(expires, tz=UTC))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def inner() -> FakeVerifier:
    return FakeVerifier()


def test_repeat_token_is_verified_once(inner: FakeVerifier, clock: Clock) -> None:
    cache = TokenCache(inner, clock=clock)
    first = cache.verify("alice")
    assert cache.verify("alice") is first
    assert inner.calls == ["alice"]


def test_never_returns_claims_of_another_token(inner: FakeVerifier, clock: Clock) -> None:
    cache = TokenCache(inner, clock=clock)
    assert cache.verify("alice").subject == "alice"
    assert cache.verify("bob").subject == "bob"
    assert cache.verify("alice").subject == "alice"
    # A token that differs in one character is a different entry, verified on its own.
    assert cache.verify("alicf").subject == "alicf"
    assert inner.calls == ["alice", "bob", "alicf"]


def test_entry_does_not_outlive_exp(inner: FakeVerifier, clock: Clock) -> None:
    cache = TokenCache(inner, clock=clock)
    token = f"alice:{NOW + 10}"
    cache.verify(token)
    clock.now = NOW + 9.999
    cache.verify(token)
    assert len(inner.calls) == 1
    clock.now = NOW + 10
    cache.verify(token)  # at exp the verifier decides again (here: still accepts, leeway)
    assert len(inner.calls) == 2


def test_token_past_exp_within_leeway_is_not_cached(inner: FakeVerifier, clock: Clock) -> None:
    cache = TokenCache(inner, clock=clock)
    token = f"alice:{NOW - 5}"  # the real verifier accepts this within its leeway
    cache.verify(token)
    cache.verify(token)
    assert len(inner.calls) == 2
    assert len(cache) == 0


def test_entry_is_reverified_after_max_age(inner: FakeVerifier, clock: Clock) -> None:
    cache = TokenCache(inner, clock=clock, max_age_seconds=60)
    cache.verify("alice")
    clock.now = NOW + 59
    cache.verify("alice")
    clock.now = NOW + 60
    cache.verify("alice")
    assert len(inner.calls) == 2


def test_key_set_change_drops_cached_tokens(inner: FakeVerifier, clock: Clock) -> None:
    generation = [object()]
    cache = TokenCache(inner, clock=clock, generation=lambda: generation[0])
    cache.verify("alice")
    cache.verify("alice")
    generation[0] = object()  # the JWKS was refetched: a key may have been withdrawn
    cache.verify("alice")
    assert len(inner.calls) == 2


def test_failures_are_not_cached_and_pass_through(inner: FakeVerifier, clock: Clock) -> None:
    cache = TokenCache(inner, clock=clock)
    for _ in range(2):
        with pytest.raises(AuthError, match="signature verification failed"):
            cache.verify("bad-token")
    with pytest.raises(UnknownKey):
        cache.verify("unknown-kid")
    assert inner.calls == ["bad-token", "bad-token", "unknown-kid"]
    assert len(cache) == 0


def test_size_is_bounded_least_recently_used_first(inner: FakeVerifier, clock: Clock) -> None:
    cache = TokenCache(inner, clock=clock, max_entries=3)
    for name in ("a", "b", "c"):
        cache.verify(name)
    cache.verify("a")  # a is now the most recently used
    cache.verify("d")  # evicts b
    assert len(cache) == 3
    inner.calls.clear()
    cache.verify("a")
    cache.verify("c")
    cache.verify("d")
    assert inner.calls == []
    cache.verify("b")
    assert inner.calls == ["b"]


def test_a_bound_below_one_is_refused(inner: FakeVerifier) -> None:
    with pytest.raises(ValueError, match="max_entries"):
        TokenCache(inner, max_entries=0)


def test_concurrent_callers_get_their_own_claims_and_the_bound_holds(inner: FakeVerifier) -> None:
    cache = TokenCache(inner, max_entries=50)
    mismatches: list[str] = []

    def worker(offset: int) -> None:
        for i in range(2000):
            subject = f"user-{(i * 7 + offset) % 200}"
            if cache.verify(subject).subject != subject:
                mismatches.append(subject)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert mismatches == []
    assert len(cache) <= 50
