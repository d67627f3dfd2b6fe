"""Pure ASGI middleware: every request under the protected prefix is authenticated before routing.

A route that forgets its dependency is still protected, and a request with no or a bad token is
answered 401 before its body is read or validated. With a throttle, an address that has spent its
budget of failed authentications gets 429 for any token not already verified, before any
signature check.
"""

from __future__ import annotations

import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_api.auth.identity import Identity
from todo_api.auth.keys import JwksCache
from todo_api.auth.token_cache import TokenCache, Verifier
from todo_api.auth.tokens import AuthError, Claims, UnknownKey
from todo_api.errors import InvalidToken, problem_response
from todo_api.ratelimit.auth_failures import AuthFailureThrottle
from todo_api.ratelimit.policy import Usage
from todo_api.ratelimit.responses import rate_headers, too_many_requests
from todo_api.scope import IDENTITY_KEY

_AUTHORIZATION = b"authorization"


class AuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        verifier: Verifier,
        jwks: JwksCache | None = None,
        prefix: str = "/api",
        throttle: AuthFailureThrottle | None = None,
    ) -> None:
        self.app = app
        self.verifier = verifier
        # Tokens verified before pass without a signature check, and past the throttle.
        self.cache = verifier if isinstance(verifier, TokenCache) else None
        self.jwks = jwks
        self.prefix = prefix.rstrip("/")
        self.throttle = throttle

    def _protects(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._protects(scope["path"]):
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        try:
            identity = await self._authenticate(scope)
        except InvalidToken as error:
            response = problem_response(error)
            if self.throttle is not None:
                usage = await self.throttle.failed(self.throttle.address(scope))
                if usage is not None:
                    response.raw_headers.extend(rate_headers([usage]))
            response.headers["Server-Timing"] = _server_timing(started)
            await response(scope, receive, send)
            return
        except _Throttled as refused:
            response = too_many_requests(refused.usage, [refused.usage])
            response.headers["Server-Timing"] = _server_timing(started)
            await response(scope, receive, send)
            return
        timing = _server_timing(started)
        scope.setdefault("state", {})[IDENTITY_KEY] = identity

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("Server-Timing", timing)
            await send(message)

        await self.app(scope, receive, send_with_timing)

    async def _authenticate(self, scope: Scope) -> Identity:
        try:
            token: str | None = self._bearer_token(scope)
            unusable = None
        except InvalidToken as exc:
            token, unusable = None, exc
        claims = self.cache.cached(token) if self.cache is not None and token else None
        if claims is None:
            if self.throttle is not None:
                refusal = await self.throttle.refusal(self.throttle.address(scope))
                if refusal is not None:
                    raise _Throttled(refusal)
            if unusable is not None:
                raise unusable
            assert token is not None
            try:
                claims = await self._verify(token)
            except AuthError as exc:
                raise InvalidToken(exc.reason) from None
        return Identity.from_claims(claims)

    async def _verify(self, token: str) -> Claims:
        try:
            return self.verifier.verify(token)
        except UnknownKey:
            if self.jwks is None:
                raise
        # A new key (issuer rotation) or a random kid: refetch, rate-limited inside the cache.
        await self.jwks.refresh_for_unknown_kid()
        return self.verifier.verify(token)

    def _bearer_token(self, scope: Scope) -> str:
        values: list[bytes] = [value for name, value in scope["headers"] if name == _AUTHORIZATION]
        if not values:
            raise InvalidToken("missing bearer token", token_sent=False)
        if len(values) > 1:
            raise InvalidToken("more than one Authorization header")
        scheme, _, rest = values[0].decode("latin-1").strip().partition(" ")
        if scheme.lower() != "bearer":
            # Another scheme (Basic, ...) carries no bearer token: a plain challenge, RFC 6750 §3.1.
            raise InvalidToken("missing bearer token", token_sent=False)
        token = rest.strip()
        if not token or " " in token:
            raise InvalidToken("malformed token")
        return token


class _Throttled(Exception):
    def __init__(self, usage: Usage) -> None:
        self.usage = usage


def _server_timing(started: float) -> str:
    return f"auth;dur={(time.perf_counter() - started) * 1000:.3f}"
