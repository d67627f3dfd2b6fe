"""`make bench`: every measurement, then docs/benchmarks.md, docs/benchmarks.json and the plot.

BENCH_QUICK=1 runs the same steps shorter: about 15 minutes instead of about 32 on a 2-core
machine, PostgreSQL included (its 1M-row seeding alone about 4 minutes of the full run). The
PostgreSQL section (bench/pg.py) is skipped, and says so, when nothing answers at BENCH_PG_URL.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import auth
import limit_costs
import load
import openloop
import pg
import report
import safe_writes
import scaling
from common import QUICK, REPO, running_server

# The open loop's figure is the median of this many searches (openloop.median_search).
OPEN_LOOP_SEARCHES = 3


def machine() -> dict[str, Any]:
    import fastapi
    import pydantic
    import sqlalchemy
    import uvicorn

    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    model = next((x.split(":", 1)[1].strip() for x in lscpu.splitlines() if "Model name" in x), "?")
    wrk_version = subprocess.run(
        ["wrk", "--version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split("\n")[0]
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "uvicorn": uvicorn.__version__,
        "fastapi": fastapi.__version__,
        "pydantic": pydantic.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "wrk": wrk_version.split(" Copyright")[0].strip(),
        "loadavg_start": os.getloadavg(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, cwd=REPO, check=False,
        ).stdout.strip(),
    }  # fmt: skip


def main() -> int:
    if "--report-only" in sys.argv:  # re-render from docs/benchmarks.json, measuring nothing
        docs = REPO / "docs"
        report.write(json.loads((docs / "benchmarks.json").read_text()), docs)
        return 0
    started = time.monotonic()
    results: dict[str, Any] = {"quick": QUICK, "machine": machine()}
    print("auth: verification and overhead")
    results["auth"] = auth.run()
    print("load: seeding")
    pristine, users_file, results["load_seed_s"] = load.prepare()
    print("load: 10,000 users, 100 connections")
    results["load"] = load.repeated(pristine, users_file, "1 worker", rounds=3)
    results["load_2_workers"] = load.scenario(pristine, users_file, "2 workers", workers=2)
    print("load: the product against the framework-free floor (bench/floor.py), interleaved")
    results["floor"] = load.against_floor(pristine, users_file)
    print("load: concurrency sweep")
    results["sweep"] = load.sweep(pristine, users_file)
    print("load: before/after variants")
    results["variants"] = [
        load.scenario(pristine, users_file, "asyncio + h11", loop="asyncio", http="h11"),
        load.scenario(pristine, users_file, "uvloop + httptools", loop="uvloop", http="httptools"),
        load.scenario(pristine, users_file, "uvloop, guarded protocol (before P13)", loop="uvloop"),
        load.scenario(pristine, users_file, "asyncio, guarded protocol (the product, P13)"),
        load.scenario(pristine, users_file, "no token cache", token_cache=False),
        load.scenario(pristine, users_file, "token cache", token_cache=True),
        load.scenario(pristine, users_file, "GC at CPython's defaults", gc_tuned=False),
        load.scenario(pristine, users_file, "GC tuned at start (default)"),
        load.scenario(pristine, users_file, "SQLite synchronous=FULL (default)"),
        load.scenario(
            pristine, users_file, "SQLite synchronous=NORMAL", sqlite_synchronous="NORMAL"
        ),
    ]
    print("load: the cost of the abuse limits (off, in memory, in Redis), interleaved")
    results["limits"] = limit_costs.run(pristine, users_file)
    print("load: the cost of writing safely (If-Match, Idempotency-Key), interleaved")
    results["safe_writes"] = safe_writes.run(pristine, users_file)
    print(f"open loop: {OPEN_LOOP_SEARCHES} searches, each on a fresh server")
    searches = []
    for number in range(OPEN_LOOP_SEARCHES):
        with running_server(pristine.copy(f"openloop-{number}").app_url) as server:
            searches.append(openloop.search(server.port, users_file, results["load"]["rps"], QUICK))
    results["open_loop"] = openloop.median_search(searches)
    print("scaling with data")
    results["scaling"] = scaling.run()
    results["postgresql"] = pg.run()
    results["machine"]["loadavg_end"] = os.getloadavg()
    results["minutes"] = round((time.monotonic() - started) / 60, 1)
    docs = REPO / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "benchmarks.json").write_text(json.dumps(results, indent=2) + "\n")
    report.write(results, docs)
    print(f"wrote docs/benchmarks.md in {results['minutes']} min")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    raise SystemExit(main())
