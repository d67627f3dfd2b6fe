"""The issuer's public keys (JWKS), fetched off the event loop's critical path and cached.

- A background task refreshes the set on a schedule; a key that leaves the issuer's JWKS leaves
  ours at the next successful refresh.
- A token with an unknown `kid` may trigger a refetch, at most one per `min_refetch_seconds`
  whatever the traffic: random `kid`s cannot make us hammer the issuer. Concurrent callers share
  one fetch.
- When the issuer is unreachable the cached keys keep working and the failure is logged; with no
  key at all, tokens get 401 and readiness says why.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

log = logging.getLogger("todo_api.auth.keys")

MAX_JWKS_BYTES = 256 * 1024


class JwksCache:
    def __init__(
        self,
        url: str,
        *,
        refresh_seconds: float = 300,
        min_refetch_seconds: float = 30,
        timeout_seconds: float = 5,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.refresh_seconds = refresh_seconds
        self.min_refetch_seconds = min_refetch_seconds
        self._timeout = timeout_seconds
        self._transport = transport
        self._clock = clock
        self._keys: dict[str, Mapping[str, Any]] = {}
        self._lock = asyncio.Lock()
        self._last_attempt: float | None = None
        self._fetched_at: float | None = None
        self.fetches = 0
        self.last_error: str | None = None

    # -- read side: what the verifier calls on every request -------------------------------------

    def get(self, kid: str) -> Mapping[str, Any] | None:
        return self._keys.get(kid)

    @property
    def generation(self) -> object:
        """A new object whenever the key set is replaced: a cache of verified tokens keys on it."""
        return self._keys

    @property
    def ready(self) -> bool:
        return bool(self._keys)

    def age(self) -> float:
        """Seconds since the key set was last fetched successfully (infinity before the first)."""
        return math.inf if self._fetched_at is None else self._clock() - self._fetched_at

    def status(self) -> str:
        if self._keys:
            return f"{len(self._keys)} key(s) cached"
        return f"no signing keys from {self.url}: {self.last_error or 'not fetched yet'}"

    # -- write side ------------------------------------------------------------------------------

    async def refresh_for_unknown_kid(self) -> bool:
        """Refetch unless one happened within `min_refetch_seconds`; True if the set was updated."""
        async with self._lock:
            now = self._clock()
            if (
                self._last_attempt is not None
                and now - self._last_attempt < self.min_refetch_seconds
            ):
                return False
            return await self._fetch()

    async def refresh(self) -> bool:
        async with self._lock:
            return await self._fetch()

    async def run(self) -> None:
        """Refresh forever on the schedule (cancelled at shutdown)."""
        while True:
            await self.refresh()
            await asyncio.sleep(self.refresh_seconds)

    async def _fetch(self) -> bool:
        self._last_attempt = self._clock()
        self.fetches += 1
        try:
            async with httpx.AsyncClient(
                transport=self._transport, timeout=self._timeout, follow_redirects=False
            ) as client:
                response = await client.get(self.url, headers={"Accept": "application/json"})
            response.raise_for_status()
            if len(response.content) > MAX_JWKS_BYTES:
                raise ValueError("JWKS document too large")
            keys = _parse_jwks(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            self.last_error = type(exc).__name__ if not str(exc) else str(exc)[:200]
            log.warning(
                "jwks refresh failed",
                extra={"jwks_url": self.url, "error": self.last_error, "cached": len(self._keys)},
            )
            return False
        self._keys = keys
        self._fetched_at = self._clock()
        self.last_error = None
        log.info("jwks refreshed", extra={"jwks_url": self.url, "keys": sorted(keys)})
        return True


def _parse_jwks(document: Any) -> dict[str, Mapping[str, Any]]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document")
    keys: dict[str, Mapping[str, Any]] = {}
    for jwk in document["keys"]:
        # Signing keys with an id only; a key marked for encryption is not ours to verify with.
        if (
            isinstance(jwk, dict)
            and isinstance(jwk.get("kid"), str)
            and jwk.get("use", "sig") == "sig"
        ):
            keys[jwk["kid"]] = jwk
    return keys
