"""The product app with one of its decisions undone, for a benchmark to measure what it buys.

Built from the app `create_app` returns, through public APIs only (Starlette's `user_middleware`
list before the app first starts, the token cache's `inner` verifier, the `gc` module): the
product carries no switch that exists only for a benchmark (issue 28).
"""

from __future__ import annotations

import gc

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_api.auth.middleware import AuthMiddleware
from todo_api.auth.token_cache import TokenCache

# The interpreter's thresholds, read before any app is built (the product tunes them at start).
CPYTHON_GC_THRESHOLDS = gc.get_threshold()


def without_token_cache(app: FastAPI) -> FastAPI:
    """The same app verifying every token's signature anew: AuthMiddleware gets the verifier
    the cache wraps. Only before the app first starts (Starlette builds its stack then)."""
    replaced = False
    middleware: list[Middleware] = []
    for entry in app.user_middleware:
        verifier = entry.kwargs.get("verifier")
        if entry.cls is AuthMiddleware and isinstance(verifier, TokenCache):
            entry = Middleware(
                AuthMiddleware, *entry.args, **{**entry.kwargs, "verifier": verifier.inner}
            )
            replaced = True
        middleware.append(entry)
    if not replaced:
        raise RuntimeError("no cached verifier in this app's AuthMiddleware: nothing to undo")
    app.user_middleware = middleware
    return app


class GcAtDefaults:
    """The app with CPython's collector as the interpreter sets it: once the app's start-up has
    tuned and frozen it, the thresholds go back and the frozen objects to the oldest generation
    (as after one full collection at start, which is all that differs from never tuning)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_untuned(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                gc.unfreeze()
                gc.set_threshold(*CPYTHON_GC_THRESHOLDS)
            await send(message)

        await self.app(scope, receive, send_untuned)
