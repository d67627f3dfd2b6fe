"""Application factory: wires settings, storage, middleware, routes and the served contract."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from fastapi_offline import FastAPIOffline

from todo_api import health
from todo_api.auth import routes as auth_routes
from todo_api.auth.keys import JwksCache
from todo_api.auth.middleware import AuthMiddleware
from todo_api.auth.token_cache import TokenCache, Verifier
from todo_api.auth.tokens import TokenVerifier
from todo_api.db import Database, make_engine
from todo_api.db.lifecycle import prepare_database
from todo_api.errors import install_error_handlers
from todo_api.metrics import Metrics, MetricsMiddleware
from todo_api.middleware.body_limit import BodyLimitMiddleware
from todo_api.middleware.cancellation import CancelledRequestMiddleware
from todo_api.middleware.cors import ProblemCORSMiddleware
from todo_api.middleware.head import HeadMiddleware
from todo_api.middleware.request_id import REQUEST_ID_HEADER, InFlight, RequestIdMiddleware
from todo_api.ratelimit.auth_failures import AuthFailureThrottle
from todo_api.ratelimit.limiter import Limiter
from todo_api.ratelimit.middleware import UserRateLimitMiddleware
from todo_api.routing import StrictRoute
from todo_api.settings import ConfigError, LimitSettings, Settings, load_settings
from todo_api.spec import load_spec, serve_index, serve_redoc, serve_spec
from todo_api.state import AppState, attach
from todo_api.tasks import routes as task_routes
from todo_api.tasks.planned import PlannedRoute, check_planned_routes
from todo_api.tasks.service import Tasks

log = logging.getLogger("todo_api")

# Collect young objects every 10,000 net allocations, not 700. A request allocates thousands of
# objects, most gone by its end; at the default the server spent a large share of its time in the
# collector under load (the figures: docs/benchmarks.md; research P10).
GC_THRESHOLDS = (10_000, 10, 10)

# FastAPI's native OpenTelemetry: no spans, metrics or logs, whatever providers the process holds,
# and environment variables add no exporters.
TELEMETRY_OFF: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "auto_configure": False,
}


def cached_verifier(verifier: Verifier, jwks: JwksCache | None) -> Verifier:
    """Repeat tokens skip the signature check (bounded, never past `exp`; see token_cache)."""
    return TokenCache(verifier, generation=(lambda: jwks.generation) if jwks else None)


def tune_garbage_collector() -> None:
    """Once per process, at start: thresholds for a request-shaped workload, and the objects of
    start-up (modules, routes, the spec) frozen out of every later full collection."""
    if gc.get_threshold() == GC_THRESHOLDS:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def check_rate_limit_store(limiter: Limiter, settings: LimitSettings) -> None:
    """A store that does not answer at start: a warning (limits fail open until it does), or
    ConfigError under RATE_LIMIT_STORE_REQUIRED. Never the URL: it may hold a password."""
    reason = await limiter.check()
    if reason is None:
        return
    if settings.rate_limit_store_required:
        raise ConfigError(
            f"RATE_LIMIT_STORAGE_URL does not answer ({reason}) and RATE_LIMIT_STORE_REQUIRED "
            "is true: start Redis, fix the URL, or set RATE_LIMIT_STORE_REQUIRED=false"
        )
    log.warning(
        "RATE_LIMIT_STORAGE_URL does not answer: requests are served uncounted until it does",
        extra={"dependency": limiter.store.name, "reason": reason},
    )


def create_app(
    settings: Settings | None = None,
    *,
    limiter: Limiter | None = None,
    docs_user: str | None = None,
) -> FastAPI:
    """The application for `settings` (read from the environment when None).

    `limiter` replaces the one RATE_LIMIT_STORAGE_URL names (tests give it a clock of their own,
    or read its store failures). `docs_user` (`serve --demo-user`) is the `user_id` the served
    document gives as its example, so that Swagger UI's "Try it out" is filled with it. The
    garbage collector is tuned for the whole process here, because each worker builds one app.
    """
    settings = settings or load_settings()
    pool = settings.pool_options()
    in_flight = InFlight()
    database = Database(
        make_engine(settings.database_url, pool),
        threads=pool.size,
        max_overflow=pool.max_overflow,
        in_flight=in_flight,
    )
    jwks = settings.jwks_cache()
    verifier = cached_verifier(TokenVerifier(settings.verifier_config(jwks)), jwks)
    limiter = limiter or Limiter(settings.counters())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # SQLite: migrate; PostgreSQL: wait for it, check the schema revision and the RLS role.
        prepare_database(database.engine, settings.db_startup_timeout)
        database.start()
        await check_rate_limit_store(limiter, settings)
        # Keys are fetched in the background: an issuer that is down delays nothing but JWKS
        # tokens, and /readyz says so until the first fetch succeeds.
        refresher = asyncio.create_task(jwks.run()) if jwks else None
        purger = asyncio.create_task(tasks.purge_expired_keys_forever(settings.purge_interval()))
        tune_garbage_collector()
        log.info("ready", extra={"database": database.engine.url.get_backend_name()})
        try:
            yield
        finally:
            for background in (refresher, purger):
                if background is not None:
                    background.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await background
            await limiter.close()
            # Off the event loop: a database thread stuck in the driver must not stop the loop
            # from answering the cancelled requests (503) and writing their log lines; the
            # server's hard exit ends the process if the thread never returns (server.py).
            await asyncio.to_thread(database.close)

    info = load_spec()["info"]
    app = FastAPIOffline(
        title=info["title"],
        version=info["version"],
        lifespan=lifespan,
        redoc_url=None,  # spec.serve_redoc: the same page without ReDoc's CDN logo
        swagger_ui_parameters={"persistAuthorization": True},
        # A trailing slash is a 404, never a 307 whose Location is built from the Host header.
        redirect_slashes=False,
        # FastAPI's OpenTelemetry off: the product's metrics are Prometheus' and its log is the
        # access line, which keeps request input out. On, FastAPI would ask the global providers
        # on every request whether anyone configured them, and a library that did would get
        # spans and validation-failure logs carrying that input (research P37).
        telemetry=TELEMETRY_OFF,
    )
    app.router.route_class = StrictRoute  # the app's own routes (below) are checked as well
    tasks = Tasks(
        database,
        max_tasks_per_user=settings.max_tasks_per_user,
        require_if_match=settings.require_if_match,
        idempotency_ttl_seconds=settings.idempotency_ttl_seconds,
    )
    attach(app, AppState(database=database, jwks=jwks, tasks=tasks))

    install_error_handlers(app)
    # On the app's own router: FastAPI matches an included router's routes through per-request
    # route contexts (research P30).
    task_routes.add_task_routes(app.router)
    app.include_router(health.router)
    app.include_router(auth_routes.router)
    serve_spec(app, example_user=docs_user)
    serve_redoc(app)
    serve_index(app)
    # The task routes first of all, ahead of the spec's and the docs' that FastAPIOffline added
    # as it was made: they are nearly every request, and routing tries the routes in order
    # (research P26, P41). No request matches two routes (test_main_routes.py), so the order
    # changes no answer. A stable sort: every other route keeps its place.
    app.router.routes.sort(key=lambda route: not isinstance(route, PlannedRoute))
    check_planned_routes(app.routes)

    # Added innermost first: the request id wraps everything, CORS answers preflights before
    # authentication, the failed-auth throttle runs before any signature check, and the per-user
    # budgets right after authentication, before any body is read.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(HeadMiddleware)  # inside auth and limits, which see a HEAD (a read)
    requests, writes, failures = settings.budgets()
    if requests or writes:  # both off: not even a pass-through layer
        app.add_middleware(
            UserRateLimitMiddleware, limiter=limiter, requests=requests, writes=writes
        )
    throttle = (
        AuthFailureThrottle(limiter, failures, settings.proxy_networks()) if failures else None
    )
    app.add_middleware(AuthMiddleware, verifier=verifier, jwks=jwks, throttle=throttle)
    app.add_middleware(
        ProblemCORSMiddleware,
        allow_origins=settings.cors_origins,
        # HEAD is answered wherever GET is (middleware/head.py): a browser may ask for it too.
        allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            REQUEST_ID_HEADER,
            "If-Match",
            "If-None-Match",
            "Idempotency-Key",
        ],
        expose_headers=[
            "Location",
            "ETag",
            "Idempotent-Replayed",
            "Server-Timing",
            REQUEST_ID_HEADER,
            "RateLimit",
            "RateLimit-Policy",
            "Retry-After",
        ],
        allow_credentials=False,
        max_age=600,
    )
    # Inside the request id: a request cancelled at shutdown is answered 503 with its own id.
    app.add_middleware(CancelledRequestMiddleware)
    app.add_middleware(RequestIdMiddleware, in_flight=in_flight)
    if settings.metrics_port is not None:  # outermost, so that it times everything
        dependencies = [database.status, *([database.disk] if database.disk else [])]
        if settings.rate_limit_storage_url != "memory://":
            dependencies.append(limiter.store)
        metrics = Metrics(
            settings.metrics_host, settings.metrics_port, database.engine, jwks, dependencies
        )
        app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
