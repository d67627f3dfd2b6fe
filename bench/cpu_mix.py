"""CPU per request of the mix, in process: revisions (and the floor) interleaved, medians.

    PYTHONPATH=bench:backend/tests .venv/bin/python bench/cpu_mix.py HEAD~1 HEAD . floor \
        ".+RATE_LIMIT=off+RATE_LIMIT_WRITES=off" [--rounds 5] [--requests 4000]

Each contender is a git revision (its `backend/src` extracted as bench/compare.py does), `.` (this
work tree's `backend/src`) or `floor` (bench/floor.py), optionally followed by `+NAME=VALUE`
settings for the app's environment (a setting switched, on one revision). Each round runs every
contender in a fresh child process, alternating the order: the child seeds a SQLite file (200
users, 20 tasks each), starts the app's lifespan, sends the mix of `bench/mix.lua` (70% list,
15% get, 5% create, 5% toggle, 5% rename) one request at a time through the ASGI interface with no
sockets, warms up, then reports `time.process_time()` (every thread of the process: the loop and
the database threads) per request. The product runs with its defaults and logs at INFO (to a
pipe the parent reads), as under `make bench`.

CPU time, not wall time: steadier than requests/s when other work shares the machine, though
rounds still spread there (caches, frequency), so take five rounds or more and read the spread
beside the median. It leaves out uvicorn's HTTP parsing (the same for every contender), so its
product / floor ratio is lower than the one over HTTP (`make bench` §3b); its use is the
before/after of a change to the app.

With `--postgres` (BENCH_PG_URL names a superuser; default: the local server, trust
authentication) the parent makes one database with the test suite's `Cluster`, seeds it (200
users, 20 tasks each) and every child serves it as the app role; each child then also reports the
CPU of the PostgreSQL backends its connections used (/proc, so the server must be local) and
the wall time per request (one request at a time: the latency).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import BENCH, SECRET, mint

CHILD_PATH = os.pathsep.join([str(BENCH), str(BENCH.parent / "backend" / "tests")])
USERS = 200
TASKS_PER_USER = 20


def _mix(ids: dict[str, list[int]], count: int, seed: int) -> list[tuple[str, str, bytes]]:
    draw = random.Random(seed)
    users = sorted(ids)
    requests: list[tuple[str, str, bytes]] = []
    for _ in range(count):
        user = draw.choice(users)
        base = f"/api/{user}/tasks"
        roll = draw.randint(1, 100)
        task = f"{base}/{draw.choice(ids[user])}"
        if roll <= 70:
            requests.append(("GET", base, b""))
        elif roll <= 85:
            requests.append(("GET", task, b""))
        elif roll <= 90:
            requests.append(("POST", base, b'{"title":"bench task"}'))
        elif roll <= 95:
            requests.append(("PATCH", task + "/complete", b""))
        else:
            requests.append(("PATCH", task, b'{"title":"renamed by bench"}'))
    return requests


async def _drive(app: Any, requests: list[tuple[str, str, bytes]], tokens: dict[str, str]) -> int:
    from asgi import call

    failures = 0
    for method, path, body in requests:
        status, _ = await call(app, method, path, token=tokens[path.split("/")[2]], body=body)
        failures += not 200 <= status < 300
    return failures


async def _measure(
    app: Any, ids: dict[str, list[int]], requests: int, server: Any = None
) -> dict[str, float]:
    """Runs the app's ASGI lifespan around the requests, as uvicorn would."""
    tokens = {user: mint(user) for user in ids}
    warm, measured = _mix(ids, 1000, seed=1), _mix(ids, requests, seed=2)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started, stopped = asyncio.Event(), asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind.endswith(".failed"):
            raise SystemExit(f"lifespan: {message}")
        (started if kind == "lifespan.startup.complete" else stopped).set()

    await inbox.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send)
    )
    await started.wait()
    try:
        return await _timed(app, warm, measured, tokens, server)
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await lifespan


async def _timed(
    app: Any,
    warm: list[tuple[str, str, bytes]],
    measured: list[tuple[str, str, bytes]],
    tokens: dict[str, str],
    server: Any = None,
) -> dict[str, float]:
    """CPU µs per request of this process (`us`); with `server` (a callable: CPU seconds of the
    database's backends so far), theirs (`postgres`) and the wall time per request (`wall`)."""
    if failures := await _drive(app, warm, tokens):
        raise SystemExit(f"{failures} warm-up requests were not 2xx")
    server_started = server() if server else 0.0
    wall = time.perf_counter()
    started = time.process_time()
    failures = await _drive(app, measured, tokens)
    elapsed = time.process_time() - started
    wall = time.perf_counter() - wall
    if failures:
        raise SystemExit(f"{failures} measured requests were not 2xx")
    figures = {"us": elapsed / len(measured) * 1e6}
    if server:
        figures["postgres"] = (server() - server_started) / len(measured) * 1e6
        figures["wall"] = wall / len(measured) * 1e6
    return figures


def child(contender: str, requests: int, settings: list[str], postgres: str | None = None) -> None:
    """One measurement in this process: `contender` is a `backend/src` path or `floor`;
    `postgres`: the app role's URL of a seeded database, whose ids come on stdin."""
    os.environ.update(setting.split("=", 1) for setting in settings)
    if contender != "floor":
        sys.path.insert(0, contender)
    from common import seed_tasks

    if postgres:
        url = postgres
        # A revision before migration 0005 names tasks by their global id, not the owner's number.
        from todo_api.tasks import store

        seeded = json.loads(sys.stdin.read())
        ids = seeded["numbers" if hasattr(store, "TaskCounterRow") else "ids"]
    else:
        folder = Path(tempfile.mkdtemp(prefix="cpu-mix-"))
        url = f"sqlite:///{folder / 'tasks.db'}"
        ids = seed_tasks(url, {f"user-{n:04d}": TASKS_PER_USER for n in range(USERS)})
    os.environ.update(BETTER_AUTH_SECRET=SECRET, DATABASE_URL=url, LOG_LEVEL="INFO")
    server = None
    if contender == "floor":
        import floor

        app: Any = floor.build()
    else:
        from todo_api.logs import configure_logging
        from todo_api.main import create_app
        from todo_api.settings import load_settings

        settings = load_settings()
        configure_logging(settings.log_level)
        app = create_app(settings)
        if postgres:
            server = _backends_of(url)
    print(json.dumps(asyncio.run(_measure(app, ids, requests, server))))


def _backends_of(url: str) -> Any:
    """A callable: the CPU seconds so far of the PostgreSQL backends of the app role on this
    database, the app's connections however it holds them (a pool, or connections of its own on
    the event loop), found in pg_stat_activity at each call (utime + stime from /proc; a backend
    that ended is no longer counted)."""
    import psycopg
    from sqlalchemy.engine import make_url

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    pids: set[int] = set()
    tick = os.sysconf("SC_CLK_TCK")

    def seconds() -> float:
        with psycopg.connect(conninfo, application_name="cpu-mix-probe") as probe:
            pids.update(
                pid
                for (pid,) in probe.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND usename = current_user AND pid <> pg_backend_pid()"
                )
            )
        total = 0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / tick

    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("contenders", nargs="*")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--setting", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--app-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.requests, args.setting, args.app_url)
        return
    if args.postgres:
        from fixtures.pg_databases import Cluster

        cluster = Cluster(
            os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres")
        )
        try:
            database = cluster.create_database("cpu_mix")
            from common import seed_tasks

            numbers = seed_tasks(
                database.admin_url, {f"user-{n:04d}": TASKS_PER_USER for n in range(USERS)}
            )
            seeded = {"numbers": numbers, "ids": _global_ids(database.admin_url)}
            _rounds(args, ["--app-url", database.app_url], json.dumps(seeded))
        finally:
            cluster.drop_all()
        return
    _rounds(args, [], None)


def _global_ids(url: str) -> dict[str, list[int]]:
    """Each owner's tasks by their global id, in number order: what a revision before
    migration 0005 calls them."""
    from sqlalchemy import create_engine, text

    ids: dict[str, list[int]] = {}
    engine = create_engine(url)
    with engine.connect() as connection:
        for owner, task_id in connection.execute(
            text("SELECT owner_id, id FROM tasks ORDER BY owner_id, number")
        ):
            ids.setdefault(owner, []).append(task_id)
    engine.dispose()
    return ids


def _rounds(args: argparse.Namespace, extra: list[str], stdin: str | None) -> None:
    from compare import extract

    sources: dict[str, tuple[str, list[str]]] = {}
    for contender in args.contenders:
        name, *settings = contender.split("+")
        if name == "floor":
            source = "floor"
        elif name == ".":
            source = str(BENCH.parent / "backend" / "src")
        else:
            sha, src = extract(name)
            source = str(src)
            if sha != name:  # HEAD~1 (1a2b3c4), not 1a2b3c4 (1a2b3c4)
                contender = contender.replace(name, f"{name} ({sha})", 1)
        sources[contender] = (source, settings)
    results: dict[str, dict[str, list[float]]] = {name: {} for name in sources}
    for round_ in range(args.rounds):
        order = list(sources.items())
        for name, (source, settings) in order if round_ % 2 == 0 else reversed(order):
            options = [f"--setting={setting}" for setting in settings]
            out = subprocess.run(
                [sys.executable, __file__, "--child", source, "--requests", str(args.requests),
                 *options, *extra],
                capture_output=True, text=True, check=True, input=stdin,
                env={**os.environ, "PYTHONPATH": CHILD_PATH},
            )  # fmt: skip
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            for part, value in figures.items():
                results[name].setdefault(part, []).append(value)
            shown = " ".join(f"{part}={value:.0f}" for part, value in figures.items())
            print(f"round {round_ + 1}: {name} {shown} µs", file=sys.stderr)
    first = next(iter(results.values()))
    print("| contender | figure | µs / request (median) | rounds | × first |")
    print("|---|---|---|---|---|")
    for name, parts in results.items():
        for part, values in parts.items():
            median = statistics.median(values)
            ratio = median / statistics.median(first[part])
            spread = ", ".join(f"{v:.0f}" for v in values)
            print(f"| {name} | {_LABELS[part]} | {median:.0f} | {spread} | {ratio:.3f} |")


_LABELS = {"us": "app CPU", "postgres": "PostgreSQL CPU", "wall": "wall time"}


if __name__ == "__main__":
    main()
