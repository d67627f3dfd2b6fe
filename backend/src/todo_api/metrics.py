"""Prometheus metrics: counted by a pure ASGI middleware, served on a listener of their own.

Nothing here is reachable through the API's port. The listener (`METRICS_HOST:METRICS_PORT`)
starts with the application's lifespan and stops with it. Under `todo-api serve --workers N`,
with `PROMETHEUS_MULTIPROC_DIR` set (by `serve` itself, workers.py), every worker writes its
samples to that directory, the one worker that binds the port serves the sum of all of them, and
the others carry on without a listener (docs/operations.md, research M2).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_api.auth.keys import JwksCache
from todo_api.dependencies import Dependency
from todo_api.settings import ConfigError
from todo_api.settings.observability import MULTIPROC_DIR_VARIABLE
from todo_api.spec import load_spec

log = logging.getLogger("todo_api.metrics")

# Every path that matches no operation shares one label value, so scanners cannot grow the series.
UNMATCHED = "unmatched"
# The reasons that auth/tokens.py and auth/middleware.py give for a 401 (a unit test checks this
# set against their source); any other text is counted as OTHER_REASON.
AUTH_FAILURE_REASONS = frozenset(
    {
        "missing bearer token",
        "more than one Authorization header",
        "malformed token",
        "token too large",
        "algorithm not allowed",
        "missing kid",
        "unknown signing key",
        "key algorithm mismatch",
        "signature verification failed",
        "token expired",
        "token not yet valid",
        "wrong issuer",
        "wrong audience",
        "invalid claim: sub",
        "invalid claim: iat",
        "invalid claim: exp",
        "invalid token",
    }
)
OTHER_REASON = "other"
# Requests take about a millisecond; the buckets reach the 10 s a pool wait may add.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
SAMPLE_SECONDS = 1.0

_DESCRIPTION = re.compile(r'error_description="([^"]*)"')
_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db")


# "invalid claim: sub" -> "invalid_claim_sub", computed once: a flood of bad tokens is a 401 flood.
_REASON_LABELS = {
    reason: re.sub(r"[^a-z0-9]+", "_", reason.lower()).strip("_") for reason in AUTH_FAILURE_REASONS
}


# The budgets' names (main.py's policies): a 429 is counted under the one it shows spent.
RATE_LIMIT_POLICIES = frozenset({"requests", "writes", "auth-failures"})
_SPENT = re.compile(r'"([a-z-]+)";r=0;')


def reason_label(reason: str) -> str:
    """The label of one of the verifier's reasons; any other text is "other"."""
    return _REASON_LABELS.get(reason, OTHER_REASON)


class Metrics:
    """The series of one application, and the listener that serves them."""

    def __init__(
        self,
        host: str,
        port: int,
        engine: Engine,
        jwks: JwksCache | None = None,
        dependencies: Sequence[Dependency] = (),
    ) -> None:
        self.host, self.port = host, port
        self.engine, self.jwks = engine, jwks
        self.dependencies = tuple(dependencies)
        self.multiprocess_dir = os.environ.get(MULTIPROC_DIR_VARIABLE) or None
        if self.multiprocess_dir is not None and not Path(self.multiprocess_dir).is_dir():
            # prometheus-client would fail later with a bare FileNotFoundError.
            raise ConfigError(
                f"{MULTIPROC_DIR_VARIABLE} is not a directory: create it (empty) before the "
                "server starts, or unset it when running a single process"
            )
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "todo_api_requests",
            "HTTP requests answered, by the contract's operationId and status.",
            ["operation", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "todo_api_request_duration_seconds",
            "Time from the request's arrival to the end of its response, by operationId.",
            ["operation"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.auth_failures = Counter(
            "todo_api_auth_failures",
            "Requests refused with 401, by the verifier's reason.",
            ["reason"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "todo_api_rate_limited",
            "Requests refused with 429, by the spent budget (requests, writes, auth-failures).",
            ["policy"],
            registry=registry,
        )
        self.pool = Gauge(
            "todo_api_db_pool_connections",
            "Database connections of the pool: in_use (checked out) or idle, summed over workers.",
            ["state"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.jwks_age = (
            Gauge(
                "todo_api_jwks_age_seconds",
                "Seconds since the JWKS was last fetched (+Inf before the first success); "
                "the oldest of the workers.",
                multiprocess_mode="livemax",
                registry=registry,
            )
            if jwks is not None
            else None
        )
        # livemin: with several workers, 0 as soon as one of them finds it down.
        self.dependency_up = Gauge(
            "todo_api_dependency_up",
            "1 while the dependency answers (database, rate_limit_store, disk), 0 while it does "
            "not; the lowest of the workers.",
            ["dependency"],
            multiprocess_mode="livemin",
            registry=registry,
        )
        self._dependency_children = [
            (dependency, self.dependency_up.labels(dependency.name))
            for dependency in self.dependencies
        ]
        # `.labels()` takes a lock and builds a key on every call: keep the children.
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._server: WSGIServer | None = None
        self._sampler: asyncio.Task[None] | None = None

    def observe(self, operation: str, status: int, seconds: float) -> None:
        children = self._children.get((operation, status))
        if children is None:
            children = (
                self.requests.labels(operation, str(status)),
                self.duration.labels(operation),
            )
            self._children[(operation, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def auth_failed(self, reason: str) -> None:
        self.auth_failures.labels(reason_label(reason)).inc()

    def refused(self, rate_limit: bytes | None) -> None:
        """A 429: the policy its RateLimit field shows spent (r=0), from a bounded set."""
        spent = _SPENT.search((rate_limit or b"").decode("latin-1"))
        policy = spent[1] if spent and spent[1] in RATE_LIMIT_POLICIES else OTHER_REASON
        self.rate_limited.labels(policy).inc()

    def sample(self) -> None:
        """Gauges are read from their sources now and then, not on the request path."""
        pool = self.engine.pool
        if isinstance(pool, QueuePool):
            self.pool.labels("in_use").set(pool.checkedout())
            self.pool.labels("idle").set(pool.checkedin())
        if self.jwks_age is not None and self.jwks is not None:
            self.jwks_age.set(self.jwks.age())
        for dependency, child in self._dependency_children:
            child.set(1 if dependency.up else 0)
        if self.multiprocess_dir is not None:
            _forget_dead_workers(self.multiprocess_dir)

    async def start(self) -> None:
        self.sample()
        self._sampler = asyncio.create_task(self._sample_forever())
        try:
            self._server, _ = start_http_server(
                self.port, addr=self.host, registry=self._exposed_registry()
            )
        except OSError as exc:
            if self.multiprocess_dir is None or exc.errno != errno.EADDRINUSE:
                await self.stop()
                raise
            # Another worker of this server holds the port and serves every worker's samples.
            log.info("metrics served by another worker", extra={"metrics_port": self.port})
            return
        log.info("metrics listening", extra={"metrics_host": self.host, "metrics_port": self.port})

    async def stop(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
            self._sampler = None
        if self._server is not None:
            server, self._server = self._server, None
            await asyncio.to_thread(server.shutdown)
            server.server_close()

    async def _sample_forever(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_SECONDS)
            try:
                self.sample()
            except Exception:  # a gauge left stale must not stop the sampling for good
                log.exception("metrics sampling failed")

    def _exposed_registry(self) -> CollectorRegistry:
        if self.multiprocess_dir is None:
            return self.registry
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return merged


def _forget_dead_workers(directory: str) -> None:
    """Drop the gauges of workers that are gone (uvicorn restarts a dead one under a new pid);
    their counters stay, so that totals never go down."""
    for name in os.listdir(directory):
        match = _LIVE_GAUGE_FILE.fullmatch(name)
        if match is None:
            continue
        pid = int(match[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            # Every worker sweeps: another may have removed the same files a moment ago.
            with contextlib.suppress(FileNotFoundError):
                multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
        except PermissionError:  # alive, another user's process
            pass


def spec_operations() -> list[tuple[str, re.Pattern[str], str]]:
    """(method, path pattern, operationId) of every operation in the contract."""
    operations = []
    for template, item in load_spec()["paths"].items():
        pattern = re.compile(re.sub(r"\\{[^/}]+\\}", "[^/]+", re.escape(template)) + "$")
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                operations.append((method.upper(), pattern, operation["operationId"]))
    return operations


class MetricsMiddleware:
    """Counts every HTTP request by operation and status; runs the listener during the lifespan."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # 401s and 413s are answered before routing: those requests are matched on the contract.
        self.operations = spec_operations()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        status = 500
        challenge: bytes | None = None
        rate_limit: bytes | None = None

        async def send_observed(message: Message) -> None:
            nonlocal status, challenge, rate_limit
            if message["type"] == "http.response.start":
                status = message["status"]
                if status == 401:
                    challenge = _header(message, b"www-authenticate")
                elif status == 429:
                    rate_limit = _header(message, b"ratelimit")
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            self.metrics.observe(
                self._operation(scope, status), status, time.perf_counter() - started
            )
            if status == 401:
                self.metrics.auth_failed(_reason(challenge))
            elif status == 429:
                self.metrics.refused(rate_limit)

    def _operation(self, scope: Scope, status: int) -> str:
        if status == 405:  # the path is known, the method is not: no operation
            return UNMATCHED
        route = scope.get("route")
        if route is not None:
            # The contract's operationId; routes outside it (the docs) by their fixed name.
            label = getattr(route, "operation_id", None) or getattr(route, "name", None)
            return label if isinstance(label, str) else UNMATCHED
        method, path = scope["method"], scope["path"]
        for operation_method, pattern, operation_id in self.operations:
            if operation_method == method and pattern.match(path):
                return operation_id
        return UNMATCHED

    def _lifespan_send(self, send: Send) -> Send:
        async def send_lifespan(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                try:
                    await self.metrics.start()
                except OSError as exc:
                    message = {
                        "type": "lifespan.startup.failed",
                        "message": f"METRICS_PORT {self.metrics.port} on METRICS_HOST "
                        f"{self.metrics.host}: {exc.strerror or exc}",
                    }
            elif message["type"] in {"lifespan.shutdown.complete", "lifespan.shutdown.failed"}:
                await self.metrics.stop()
            await send(message)

        return send_lifespan


def _header(message: Message, name: bytes) -> bytes | None:
    for key, value in message.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


def _reason(challenge: bytes | None) -> str:
    # RFC 6750: a challenge without error_description means no bearer token was sent at all.
    if challenge is None:
        return OTHER_REASON
    match = _DESCRIPTION.search(challenge.decode("latin-1"))
    return match[1] if match else "missing bearer token"
