"""A bounded cache of verified tokens in front of any verifier: a repeat token costs a lookup.

Entries are keyed by the SHA-256 of the whole token (the token itself is not kept), hold the
verified claims until the token's `exp` (never past it) and at most `max_age_seconds`, and are
evicted least recently used beyond `max_entries`. With `generation` (the JWKS key set's), an entry
is dropped as soon as the key set changes, so a withdrawn key is not honoured from the cache.
Failures are not cached: a bad token is verified, and refused, every time. Safe to share between
threads and the event loop.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from todo_api.auth.tokens import Claims

DEFAULT_MAX_ENTRIES = 16_384  # a few MiB at most: ~300 bytes of claims per entry
DEFAULT_MAX_AGE_SECONDS = 60.0


class Verifier(Protocol):
    def verify(self, token: str) -> Claims: ...


class TokenCache:
    """Wraps `inner.verify`; exceptions from it (AuthError, UnknownKey) pass through untouched."""

    def __init__(
        self,
        inner: Verifier,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.time,
        generation: Callable[[], object] | None = None,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.inner = inner
        self._max_entries = max_entries
        self._max_age = max_age_seconds
        self._clock = clock
        self._generation = generation or _no_generation
        self._entries: OrderedDict[bytes, tuple[float, object, Claims]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def cached(self, token: str) -> Claims | None:
        """The claims of a token verified before and still valid, without verifying anything."""
        return self._lookup(hashlib.sha256(token.encode()).digest(), self._clock())

    def verify(self, token: str) -> Claims:
        key = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        claims = self._lookup(key, now)
        if claims is not None:
            return claims
        generation = self._generation()
        claims = self.inner.verify(token)
        # `exp` itself, not exp + leeway: after it, the verifier decides again.
        deadline = min(claims.expires_at.timestamp(), now + self._max_age)
        if deadline > now:
            with self._lock:
                self._entries[key] = (deadline, generation, claims)
                self._entries.move_to_end(key)
                while len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)
        return claims

    def _lookup(self, key: bytes, now: float) -> Claims | None:
        generation = self._generation()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            deadline, seen_with, claims = entry
            if now < deadline and seen_with is generation:
                self._entries.move_to_end(key)
                return claims
            del self._entries[key]
        return None


_NO_GENERATION = object()


def _no_generation() -> object:
    return _NO_GENERATION
