"""The benchmark's server: the product app under uvicorn, configured like `todo-api serve`.

Run as a script (`python bench/server.py --port P --workers N`); uvicorn imports `server:build`
in each worker. Logging is the product's (one JSON access line per request, to stderr), so its
cost is measured. `BENCH_TOKEN_CACHE=0` unwraps the verifier, `BENCH_GC_TUNED=0` leaves the
garbage collector at CPython's defaults, and `BENCH_SQLITE_SYNCHRONOUS`
sets that pragma: benchmark-only comparisons, the product itself has no such switches. `--http`
is `guarded` by default, the protocol `todo-api serve` runs (a revision without it gets uvicorn's
plain httptools), or any of uvicorn's (`httptools`, `h11`) to compare.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import signal
from typing import Any

import uvicorn
from fastapi import FastAPI
from sqlalchemy import event

from todo_api import main as product
from todo_api.logs import configure_logging
from todo_api.settings import load_settings


def build() -> FastAPI:
    # `kill -USR1 <pid>` dumps every thread's stack to the server log: how a stall is diagnosed.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    settings = load_settings()
    configure_logging(settings.log_level)
    if os.environ.get("BENCH_GC_TUNED", "1") == "0" and hasattr(product, "tune_garbage_collector"):
        product.tune_garbage_collector = lambda: None
    if os.environ.get("BENCH_TOKEN_CACHE", "1") == "0" and hasattr(product, "cached_verifier"):
        product.cached_verifier = lambda verifier, jwks: verifier
    app = product.create_app(settings)
    synchronous = os.environ.get("BENCH_SQLITE_SYNCHRONOUS")
    if synchronous in {"OFF", "NORMAL", "FULL"}:
        # A candidate measured by the benchmark, not a product setting.
        @event.listens_for(app.state.database.engine, "connect")
        def _synchronous(dbapi_connection: Any, _: Any) -> None:
            dbapi_connection.execute(f"PRAGMA synchronous={synchronous}")

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--loop", default="auto")
    parser.add_argument("--http", default="guarded")
    args = parser.parse_args()
    http: Any = args.http
    if http == "guarded":  # the product's protocol (todo_api/server.py), limits from settings
        try:
            from todo_api.server import ConnectionLimits, guarded_protocol
        except ImportError:  # a revision from before issue 19
            http = "httptools"
        else:
            http = guarded_protocol(ConnectionLimits.from_settings(load_settings()))
    uvicorn.run(
        "server:build",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        loop=args.loop,
        http=http,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
