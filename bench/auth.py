"""Auth cost: µs per token verification (cold and warm), and auth's share of a whole request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from fastapi import FastAPI
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from asgi import call, timed
from common import (
    IN_PROCESS_LIMITS,
    QUICK,
    SECRET,
    mint,
    percentile,
    seed_tasks,
    sqlite_url,
    work_dir,
)
from product_variants import without_token_cache
from todo_api import main as product
from todo_api.auth.identity import Identity
from todo_api.auth.middleware import AuthMiddleware
from todo_api.auth.tokens import Claims, TokenVerifier, VerifierConfig
from todo_api.scope import IDENTITY_KEY
from todo_api.settings import Settings

Verifier = Callable[[str], Claims]


class _KeySet:
    """A JWKS stand-in: the verifier looks keys up by kid, as with Better Auth's key set."""

    def __init__(self, keys: dict[str, dict[str, Any]]) -> None:
        self.keys = keys

    def get(self, kid: str) -> dict[str, Any] | None:
        return self.keys.get(kid)


def _verifiers() -> dict[str, tuple[Any, TokenVerifier]]:
    """Signing key and verifier per algorithm: HS256 with the secret, the others via a key set."""
    pairs: dict[str, tuple[Any, TokenVerifier]] = {
        "HS256": (SECRET, TokenVerifier(VerifierConfig(("HS256",), secrets=(SECRET.encode(),))))
    }
    private_keys: dict[str, Any] = {
        "EdDSA": (ed25519.Ed25519PrivateKey.generate(), OKPAlgorithm),
        "ES256": (ec.generate_private_key(ec.SECP256R1()), ECAlgorithm),
        "RS256": (rsa.generate_private_key(public_exponent=65537, key_size=2048), RSAAlgorithm),
    }
    for algorithm, (private, codec) in private_keys.items():
        jwk = codec.to_jwk(private.public_key(), as_dict=True) | {"kid": "k1", "alg": algorithm}
        config = VerifierConfig((algorithm,), jwks=_KeySet({"k1": jwk}))
        pairs[algorithm] = (private, TokenVerifier(config))
    return pairs


def _tokens(signing_key: Any, algorithm: str, count: int) -> list[str]:
    now = int(time.time())
    headers = None if algorithm.startswith("HS") else {"kid": "k1"}
    return [
        jwt.encode(
            {"sub": f"user-{i}", "iat": now, "exp": now + 3600, "email": f"u{i}@example.com"},
            signing_key,
            algorithm=algorithm,
            headers=headers,
        )
        for i in range(count)
    ]


def _sample(verify: Verifier, tokens: list[str]) -> list[float]:
    samples = []
    clock = time.perf_counter_ns
    for token in tokens:
        started = clock()
        verify(token)
        samples.append((clock() - started) / 1000)
    return samples


def verification(wrap: Callable[[TokenVerifier], Any] | None = None) -> dict[str, dict[str, float]]:
    """µs per verify() for each algorithm: cold (each token new) and warm (one token repeated)."""
    count = 2000 if QUICK else 10_000
    results: dict[str, dict[str, float]] = {}
    for algorithm, (signing_key, plain) in _verifiers().items():
        verifier = wrap(plain) if wrap else plain
        n = count if algorithm.startswith("HS") else max(500, count // 10)
        cold_tokens = _tokens(signing_key, algorithm, n)
        warm_token = cold_tokens[0]
        _sample(verifier.verify, cold_tokens[:50])  # imports and first-call costs, not counted
        cold = _sample(verifier.verify, cold_tokens)
        warm = _sample(verifier.verify, [warm_token] * n)
        results[algorithm] = {
            "n": n,
            "cold_p50": percentile(cold, 50),
            "cold_p99": percentile(cold, 99),
            "warm_p50": percentile(warm, 50),
            "warm_p99": percentile(warm, 99),
        }
    return results


class FixedIdentityMiddleware:
    """Benchmark-only stand-in for AuthMiddleware: a fixed identity in scope, nothing verified."""

    def __init__(self, app: ASGIApp, identity: Identity) -> None:
        self.app = app
        self.identity = identity

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})[IDENTITY_KEY] = self.identity
        await self.app(scope, receive, send)


def _without_auth(app: FastAPI, identity: Identity) -> FastAPI:
    """The same app with AuthMiddleware swapped for the stand-in; `current_user` then reads it.

    Not `app.dependency_overrides[current_user]`: FastAPI rebuilds an overridden dependency on
    every request (measured: +0.6 ms), which would make the no-auth variant the slower one.
    """
    app.user_middleware = [
        Middleware(FixedIdentityMiddleware, identity=identity) if m.cls is AuthMiddleware else m
        for m in app.user_middleware
    ]
    return app


async def _overhead(db: Path) -> dict[str, float]:
    user = "bench-user"
    seed_tasks(sqlite_url(db), {user: 20})
    token = mint(user, email="bench@example.com")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        BETTER_AUTH_SECRET=SECRET,
        DATABASE_URL=sqlite_url(db),
        **IN_PROCESS_LIMITS,
    )
    real = product.create_app(settings)
    # The same app with the bare verifier: what the cache buys.
    uncached = without_token_cache(product.create_app(settings))
    claims = TokenVerifier(settings.verifier_config(None)).verify(token)
    fixed = _without_auth(product.create_app(settings), Identity.from_claims(claims))
    path = f"/api/{user}/tasks"
    rounds = 1000 if QUICK else 4000
    real_times: list[float] = []
    fixed_times: list[float] = []
    uncached_times: list[float] = []
    me_times: list[float] = []
    async with (
        real.router.lifespan_context(real),
        fixed.router.lifespan_context(fixed),
        uncached.router.lifespan_context(uncached),
    ):
        assert (await call(real, "GET", path))[0] == 401  # the real app really authenticates
        for _ in range(100):  # warm all three
            for app in (real, fixed, uncached):
                await timed(app, "GET", path, token=token)
        variants = [(real, real_times), (fixed, fixed_times), (uncached, uncached_times)]
        for i in range(rounds):
            # Interleaved, rotating who goes first, so drift and cache effects hit all alike.
            for app, times in variants[i % 3 :] + variants[: i % 3]:
                times.append(await timed(app, "GET", path, token=token))
            if i % 4 == 0:
                me_times.append(await timed(real, "GET", "/api/me", token=token))
    real_p50 = percentile(real_times, 50) * 1e6
    fixed_p50 = percentile(fixed_times, 50) * 1e6
    return {
        "rounds": rounds,
        "real_p50_us": real_p50,
        "real_p99_us": percentile(real_times, 99) * 1e6,
        "fixed_p50_us": fixed_p50,
        "fixed_p99_us": percentile(fixed_times, 99) * 1e6,
        "ratio": fixed_p50 / real_p50,
        "uncached_p50_us": percentile(uncached_times, 50) * 1e6,
        "ratio_uncached": fixed_p50 / (percentile(uncached_times, 50) * 1e6),
        "me_p50_us": percentile(me_times, 50) * 1e6,
        "me_p99_us": percentile(me_times, 99) * 1e6,
    }


def overhead() -> dict[str, float]:
    return asyncio.run(_overhead(work_dir() / "overhead.db"))


def run() -> dict[str, Any]:
    results: dict[str, Any] = {"uncached": verification()}
    results["cached"] = verification(lambda verifier: product.cached_verifier(verifier, None))
    results["overhead"] = overhead()
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
