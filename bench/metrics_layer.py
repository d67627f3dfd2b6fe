"""The CPU cost of counting a request: MetricsMiddleware as a layer of its own, against a hook in
an existing layer (what counting in RequestIdMiddleware's access line would cost).

    PYTHONPATH=bench:backend/tests .venv/bin/python bench/metrics_layer.py [--rounds 15]

A trivial endpoint behind a pass-through layer shaped like RequestIdMiddleware (a send wrapper
and a `finally`), called in process; CPU time (`time.process_time`), variants interleaved, medians.
On a shared machine this resolves microseconds where an end-to-end run cannot resolve 10%.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from typing import Any

from sqlalchemy import create_engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_api.metrics import Metrics, MetricsMiddleware

METRICS = Metrics("127.0.0.1", 9, create_engine(f"sqlite:///{tempfile.mkdtemp()}/metrics.db"))


class _Route:
    operation_id = "listTasks"


ROUTE = _Route()


async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    scope["route"] = ROUTE  # as FastAPI's router leaves it
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


class ExistingLayer:
    """Stands for RequestIdMiddleware; with `hook`, it also counts the request."""

    def __init__(self, app: ASGIApp, hook: bool = False) -> None:
        self.app, self.hook = app, hook

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started, status = time.perf_counter(), 500

        async def wrapped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, wrapped)
        finally:
            if self.hook:
                METRICS.observe("listTasks", status, time.perf_counter() - started)


async def _receive() -> Message:
    return {"type": "http.request", "body": b""}


async def _send(message: Message) -> None:
    pass


async def _per_request_us(app: ASGIApp, requests: int) -> float:
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/api/a/tasks", "headers": []}
    started = time.process_time()
    for _ in range(requests):
        await app(dict(scope), _receive, _send)
    return (time.process_time() - started) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    variants: dict[str, ASGIApp] = {
        "existing layer only": ExistingLayer(endpoint),
        "hook in the existing layer": ExistingLayer(endpoint, hook=True),
        "MetricsMiddleware around it": MetricsMiddleware(ExistingLayer(endpoint), METRICS),
    }
    results: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(args.rounds):
        order = list(variants.items())
        for name, app in order if round_ % 2 == 0 else reversed(order):
            results[name].append(asyncio.run(_per_request_us(app, args.requests)))
    base = statistics.median(results["existing layer only"])
    for name, values in results.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} µs | +{median - base:.2f} µs |")


if __name__ == "__main__":
    main()
