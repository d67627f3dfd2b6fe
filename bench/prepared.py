"""CPU per request on PostgreSQL with psycopg's server-side prepared statements off (the
product's default, so that a transaction pooler works) and on (psycopg's default threshold, 5).

    PYTHONPATH=bench:backend/tests .venv/bin/python bench/prepared.py [--rounds 4] [--requests 3000]

BENCH_PG_URL names a superuser (default: the local server, trust authentication). One database
is made with the test suite's `Cluster` and seeded (50 users, 20 tasks each); each round runs both
contenders in fresh child processes, alternating the order. A child serves cpu_mix's request mix
(70% list, 15% get, 5% create, 5% toggle, 5% rename) one at a time through ASGI, as the app role
directly on PostgreSQL, and reports per request the CPU of its own process and of the PostgreSQL
backends it used (/proc, so the server must be local): prepared statements save the server's
parse and plan, not the client's work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from common import SECRET, mint, seed_tasks
from cpu_mix import CHILD_PATH, _drive, _mix

USERS = 50
TASKS_PER_USER = 20
TICK = os.sysconf("SC_CLK_TCK")


def _backend_seconds(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


async def _measure(app: Any, ids: dict[str, list[int]], requests: int, pids: set[int]) -> Any:
    tokens = {user: mint(user) for user in ids}
    warm, measured = _mix(ids, 600, seed=1), _mix(ids, requests, seed=2)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started, stopped = asyncio.Event(), asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        (started if message["type"] == "lifespan.startup.complete" else stopped).set()

    await inbox.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send)
    )
    await started.wait()
    try:
        if await _drive(app, warm, tokens):
            raise SystemExit("warm-up requests were not all 2xx")
        client, server = time.process_time(), _backend_seconds(pids)
        if await _drive(app, measured, tokens):
            raise SystemExit("measured requests were not all 2xx")
        client, server = time.process_time() - client, _backend_seconds(pids) - server
        return {"app": client / requests * 1e6, "postgres": server / requests * 1e6}
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await lifespan


def child(app_url: str, threshold: str, requests: int, ids: dict[str, list[int]]) -> None:
    from sqlalchemy import event

    from todo_api.main import create_app
    from todo_api.settings import load_settings
    from todo_api.state import app_state

    os.environ.update(
        BETTER_AUTH_SECRET=SECRET, DATABASE_URL=app_url, RATE_LIMIT="off", RATE_LIMIT_WRITES="off"
    )
    app = create_app(load_settings())
    pids: set[int] = set()

    @event.listens_for(app_state(app).database.engine, "connect")
    def _connected(dbapi_connection: Any, _: Any) -> None:
        if threshold != "off":
            dbapi_connection.prepare_threshold = int(threshold)
        pids.add(dbapi_connection.info.backend_pid)

    print(json.dumps(asyncio.run(_measure(app, ids, requests, pids))))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, threshold, ids = args.child
        child(url, threshold, args.requests, json.loads(ids))
        return
    from pg_databases import Cluster

    cluster = Cluster(
        os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres")
    )
    try:
        database = cluster.create_database("prepared")
        ids = seed_tasks(
            database.admin_url, {f"user-{n:03d}": TASKS_PER_USER for n in range(USERS)}
        )
        results: dict[str, dict[str, list[float]]] = {
            name: {"app": [], "postgres": []} for name in ("off", "5")
        }
        for round_ in range(args.rounds):
            for threshold in ("off", "5") if round_ % 2 == 0 else ("5", "off"):
                out = subprocess.run(
                    [sys.executable, __file__, "--requests", str(args.requests),
                     "--child", database.app_url, threshold, json.dumps(ids)],
                    capture_output=True, text=True, check=True,
                    env={**os.environ, "PYTHONPATH": CHILD_PATH},
                )  # fmt: skip
                figures = json.loads(out.stdout.strip().splitlines()[-1])
                for part, value in figures.items():
                    results[threshold][part].append(value)
                print(
                    f"round {round_ + 1}: prepare_threshold={threshold} {figures}", file=sys.stderr
                )
    finally:
        cluster.drop_all()
    print("| prepare_threshold | app CPU µs/req | PostgreSQL CPU µs/req | sum | rounds (sum) |")
    print("|---|---|---|---|---|")
    for name, parts in results.items():
        sums = [a + p for a, p in zip(parts["app"], parts["postgres"], strict=True)]
        label = "None (default)" if name == "off" else name
        app, server = statistics.median(parts["app"]), statistics.median(parts["postgres"])
        spread = ", ".join(f"{s:.0f}" for s in sums)
        print(f"| {label} | {app:.0f} | {server:.0f} | {statistics.median(sums):.0f} | {spread} |")


if __name__ == "__main__":
    main()
