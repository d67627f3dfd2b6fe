"""The issuer's public keys (JWKS), fetched off the event loop's critical path and cached.

- A background task refreshes the set on a schedule; a key that leaves the issuer's JWKS leaves
  ours at the next well-formed document that no longer lists it.
- One fetch is in flight at a time and every caller awaits that one. It is bounded as a whole
  (connect, headers and body) by `timeout_seconds`, and its body by `max_bytes` while streaming,
  so a slow or giant issuer holds no request longer than the timeout and no memory beyond the cap.
- A token with an unknown `kid` may trigger a refetch, at most one per `min_refetch_seconds`
  counted from the end of the last attempt: random `kid`s cannot make us hammer the issuer, and a
  slow issuer cannot cause fetches back to back.
- A document with no usable key, or a malformed entry for a `kid` we hold, keeps the last good
  keys (logged and counted in `rejected_refreshes` / `rejected_entries`).
- While the issuer stays unreachable, cached keys keep working for `max_stale_seconds` after they
  were last confirmed; then their tokens get 401 ("signing keys are stale") and readiness says why.
  With no key at all, tokens get 401 and readiness says what the last fetch ran into.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from todo_api.auth.jwks_document import JwksDocument, NotAJwks, parse_jwks
from todo_api.auth.tokens import AuthError, UnknownKey

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("todo_api.auth.keys")

MAX_JWKS_BYTES = 256 * 1024


class StaleKeys(UnknownKey):
    """The token's key went unconfirmed by the issuer for longer than the allowed age. An unknown
    key of a kind: a refetch (rate-limited like any other) may confirm it again."""

    def __init__(self) -> None:
        AuthError.__init__(self, "signing keys are stale")


class _Refused(Exception):
    """The issuer answered, but not with a document we accept (`rejected`) or not at all."""

    def __init__(self, message: str, *, rejected: bool) -> None:
        super().__init__(message)
        self.rejected = rejected


class JwksCache:
    def __init__(
        self,
        url: str,
        *,
        refresh_seconds: float = 300,
        min_refetch_seconds: float = 30,
        timeout_seconds: float = 5,
        max_stale_seconds: float = 86400,
        max_bytes: int = MAX_JWKS_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.refresh_seconds = refresh_seconds
        self.min_refetch_seconds = min_refetch_seconds
        self.max_stale_seconds = max_stale_seconds
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds
        self._transport = transport
        self._clock = clock
        self._keys: dict[str, Mapping[str, Any]] = {}
        # When a usable entry last listed each held kid (clock time), and the earliest moment one
        # of them goes stale; kids dropped for age, whose tokens are told so.
        self._confirmed_at: dict[str, float] = {}
        self._next_stale = math.inf
        self._stale: frozenset[str] = frozenset()
        self._last_confirmed: float | None = None
        self._inflight: asyncio.Task[bool] | None = None
        self._last_attempt_ended: float | None = None
        self.last_error: str | None = None
        # Read by operators (logs) and, later, metrics: refreshes that could not reach the issuer,
        # documents refused whole, and entries refused one by one.
        self.failed_refreshes = 0
        self.rejected_refreshes = 0
        self.rejected_entries = 0

    # -- read side: what the verifier calls on every request -------------------------------------

    def get(self, kid: str) -> Mapping[str, Any] | None:
        self._expire_stale()
        jwk = self._keys.get(kid)
        if jwk is None and kid in self._stale:
            raise StaleKeys()
        return jwk

    @property
    def generation(self) -> object:
        """A new object whenever the key set changes (a refresh, or a key going stale): a cache
        of verified tokens keys on it."""
        self._expire_stale()
        return self._keys

    @property
    def ready(self) -> bool:
        self._expire_stale()
        return bool(self._keys)

    def age(self) -> float:
        """Seconds since a refresh last confirmed the key set (infinity before the first)."""
        return math.inf if self._last_confirmed is None else self._clock() - self._last_confirmed

    def status(self) -> str:
        self._expire_stale()
        if self._keys:
            return f"{len(self._keys)} key(s) cached"
        if self._stale and self._last_confirmed is not None:
            return (
                f"signing keys from {self.url} are stale: last confirmed "
                f"{self._clock() - self._last_confirmed:.0f} s ago, more than "
                f"AUTH_JWKS_MAX_STALE_SECONDS ({self.max_stale_seconds:g})"
                + (f"; last refresh: {self.last_error}" if self.last_error else "")
            )
        return f"no signing keys from {self.url}: {self.last_error or 'not fetched yet'}"

    def _expire_stale(self) -> None:
        now = self._clock()
        if now < self._next_stale:
            return
        stale = {
            kid for kid, at in self._confirmed_at.items() if now - at >= self.max_stale_seconds
        }
        self._keys = {kid: jwk for kid, jwk in self._keys.items() if kid not in stale}
        for kid in stale:
            del self._confirmed_at[kid]
        self._stale |= stale
        self._next_stale = self._stale_deadline()
        log.warning(
            "jwks keys are stale",
            extra={"jwks_url": self.url, "stale": sorted(stale), "error": self.last_error},
        )

    def _stale_deadline(self) -> float:
        return min(self._confirmed_at.values(), default=math.inf) + self.max_stale_seconds

    # -- write side ------------------------------------------------------------------------------

    async def refresh_for_unknown_kid(self) -> bool:
        """Join the fetch in flight, or start one unless the last ended within
        `min_refetch_seconds`; True if a document was accepted."""
        ended = self._last_attempt_ended
        if (
            self._inflight is None
            and ended is not None
            and self._clock() - ended < self.min_refetch_seconds
        ):
            return False
        return await self._shared_fetch()

    async def refresh(self) -> bool:
        return await self._shared_fetch()

    async def run(self) -> None:
        """Refresh forever on the schedule (cancelled at shutdown, with any fetch in flight)."""
        try:
            while True:
                await self.refresh()
                await asyncio.sleep(self.refresh_seconds)
        finally:
            fetch = self._inflight
            if fetch is not None:
                fetch.cancel()
                await asyncio.wait([fetch])

    async def _shared_fetch(self) -> bool:
        if self._inflight is None:
            self._inflight = asyncio.create_task(self._fetch())
            self._inflight.add_done_callback(self._fetch_ended)
        # Shielded: a caller that goes away (its client hung up) does not cancel the fetch that
        # the other callers await.
        return await asyncio.shield(self._inflight)

    def _fetch_ended(self, _: asyncio.Task[bool]) -> None:
        # From the end, not the start: after a fetch that took the whole timeout, the next one
        # still waits `min_refetch_seconds`.
        self._inflight = None
        self._last_attempt_ended = self._clock()

    async def _fetch(self) -> bool:
        # httpx only here and in `_download`: a server verifying with a shared secret has no
        # issuer to fetch from, and need not import an HTTP client to start (research F6).
        import httpx

        try:
            document = parse_jwks(await self._download())
            return self._accept(document)
        except (_Refused, NotAJwks) as exc:
            rejected = not isinstance(exc, _Refused) or exc.rejected
            return self._failed(str(exc), rejected=rejected)
        except (TimeoutError, httpx.TimeoutException):
            return self._failed(
                f"no complete answer within AUTH_JWKS_TIMEOUT_SECONDS ({self.timeout_seconds:g} s)",
                rejected=False,
            )
        except httpx.HTTPError as exc:
            detail = f": {str(exc)[:160]}" if str(exc) else ""
            return self._failed(
                f"issuer unreachable ({type(exc).__name__}{detail})", rejected=False
            )
        # Whatever else goes wrong, the refresher must live on and callers get a plain failure.
        except Exception as exc:
            log.exception("jwks refresh crashed", extra={"jwks_url": self.url})
            return self._failed(f"refresh failed ({type(exc).__name__})", rejected=False)

    async def _download(self) -> bytes:
        import httpx

        headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
        # One deadline for the whole exchange: httpx's own timeout bounds each read, and an issuer
        # dripping a byte per read would otherwise hold the fetch for ever.
        async with (
            asyncio.timeout(self.timeout_seconds),
            httpx.AsyncClient(
                transport=self._transport, timeout=self.timeout_seconds, follow_redirects=False
            ) as client,
            client.stream("GET", self.url, headers=headers) as response,
        ):
            if response.status_code != 200:
                raise _Refused(f"HTTP {response.status_code} from the issuer", rejected=False)
            # Uncompressed only (asked for above): a compressed body could inflate far past the
            # cap within one chunk, before any check.
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            if encoding != "identity":
                raise _Refused(f"compressed answer ({encoding}) refused", rejected=True)
            too_large = _Refused(f"document larger than {self.max_bytes} bytes", rejected=True)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise too_large
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self.max_bytes:
                    raise too_large
            return bytes(body)

    def _accept(self, document: JwksDocument) -> bool:
        if document.rejected:
            self.rejected_entries += document.rejected
            log.warning(
                "jwks entries rejected",
                extra={
                    "jwks_url": self.url,
                    "rejected": document.rejected,
                    "kids": sorted(document.unusable_kids),
                },
            )
        if not document.usable:
            return self._failed(
                f"no usable key in the document ({document.rejected} entries rejected)",
                rejected=True,
            )
        now = self._clock()
        keys: dict[str, Mapping[str, Any]] = {}
        for kid, jwk in document.usable.items():
            held = self._keys.get(kid)
            # The same entry keeps its object: the verifier reuses the key it built from it.
            keys[kid] = held if held == jwk else jwk
            self._confirmed_at[kid] = now
        # A kid still listed but malformed keeps its last good key, ageing from its last
        # confirmation; a kid the document no longer lists is withdrawn.
        for kid in document.unusable_kids & self._keys.keys():
            keys[kid] = self._keys[kid]
        for kid in self._confirmed_at.keys() - keys.keys():
            del self._confirmed_at[kid]
        self._stale &= document.unusable_kids
        self._next_stale = self._stale_deadline()
        self._last_confirmed = now
        if keys.keys() != self._keys.keys() or any(keys[k] is not self._keys[k] for k in keys):
            self._keys = keys
        self.last_error = None
        log.info("jwks refreshed", extra={"jwks_url": self.url, "keys": sorted(keys)})
        return True

    def _failed(self, error: str, *, rejected: bool) -> bool:
        self.last_error = error
        if rejected:
            self.rejected_refreshes += 1
        else:
            self.failed_refreshes += 1
        log.warning(
            "jwks refresh failed",
            extra={"jwks_url": self.url, "error": error, "cached": len(self._keys)},
        )
        return False
