"""The benchmark's server: the product app under uvicorn, configured like `todo-api serve`.

Run as a script (`python bench/server.py --port P --workers N`); uvicorn imports `server:build`
in each worker. Logging is the product's (one JSON access line per request, to stderr), so its
cost is measured. `BENCH_TOKEN_CACHE=0` and `BENCH_GC_TUNED=0` undo two of the product's
decisions on the app it builds (product_variants.py: every signature checked anew; CPython's
collector defaults), and `BENCH_SQLITE_SYNCHRONOUS` sets that pragma: benchmark-only
comparisons, the product has no such switch. `--http` is `guarded` by default, the protocol
`todo-api serve` runs (a revision without it gets uvicorn's plain httptools), or any of uvicorn's
(`httptools`, `h11`) to compare.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import signal
from typing import Any

import uvicorn
from sqlalchemy import event
from starlette.types import ASGIApp

from product_variants import GcAtDefaults, without_token_cache
from todo_api.logs import configure_logging
from todo_api.main import create_app
from todo_api.settings import load_settings


def build() -> ASGIApp:
    # `kill -USR1 <pid>` dumps every thread's stack to the server log: how a stall is diagnosed.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    settings = load_settings()
    configure_logging(settings.log_level)
    app = create_app(settings)
    if os.environ.get("BENCH_TOKEN_CACHE", "1") == "0":
        without_token_cache(app)
    synchronous = os.environ.get("BENCH_SQLITE_SYNCHRONOUS")
    if synchronous in {"OFF", "NORMAL", "FULL"}:
        # A candidate measured by the benchmark, not a product setting.
        from todo_api.state import app_state

        @event.listens_for(app_state(app).database.engine, "connect")
        def _synchronous(dbapi_connection: Any, _: Any) -> None:
            dbapi_connection.execute(f"PRAGMA synchronous={synchronous}")

    if os.environ.get("BENCH_GC_TUNED", "1") == "0":
        return GcAtDefaults(app)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--loop", default="product", help="the product's (EVENT_LOOP) or any")
    parser.add_argument("--http", default="guarded")
    args = parser.parse_args()
    http: Any = args.http
    loop = args.loop
    if loop == "product":  # the loop `todo-api serve` runs; a revision from before it: auto
        try:
            from todo_api.server import EVENT_LOOP
        except ImportError:
            loop = "auto"
        else:
            loop = EVENT_LOOP
    if http == "guarded":  # the product's protocol (todo_api/server.py), limits from settings
        try:
            from todo_api.server import ConnectionLimits, guarded_protocol
        except ImportError:  # a revision from before issue 19
            http = "httptools"
        else:
            http = guarded_protocol(ConnectionLimits.from_settings(load_settings()))
            if args.workers > 1:
                # Workers are spawned: they import the protocol by name (the class carries the
                # default limits, which the benchmark's settings keep); a class made at run time
                # cannot be pickled for them.
                http = "todo_api.server:GuardedHttpToolsProtocol"
    uvicorn.run(
        "server:build",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        loop=loop,
        http=http,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
