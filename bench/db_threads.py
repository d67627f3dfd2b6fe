"""CPU of the database threads per request of the mix, by kind, on SQLite or PostgreSQL.

    PYTHONPATH=bench:backend/tests .venv/bin/python bench/db_threads.py bba8be5 . \
        [--postgres] [--rounds 5] [--requests 3000]

bench/cpu_mix.py's mix and driver (in process, no sockets), each contender in a fresh child
process per round, interleaved. Besides the process's CPU per request (every thread), it reports
what each transaction cost on its database thread (`time.thread_time` from begin to commit:
statements, driver, rows to models), by the service method that ran it. cProfile sees only the
event loop's thread; this is the other side of the GIL.

`--postgres`: a throwaway database on BENCH_PG_URL made as the tests make theirs (run-unique
roles, migrations as the owner), seeded as the superuser, served as the application role under
Row-Level Security. The process's CPU leaves out the PostgreSQL server's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import SECRET

KINDS = {
    "list_tasks": "list",
    "get_task": "get",
    "create_task": "create",
    "toggle_task": "toggle",
    "_update": "rename",
}


def _instrument() -> dict[str, list[float]]:
    """Time every transaction on its thread, filed under the service method that ran it."""
    from todo_api.db import transactions

    spent: dict[str, list[float]] = defaultdict(list)
    current = threading.local()
    original_transaction = transactions.transaction
    original_run = transactions.Database._run

    @contextmanager
    def timed_transaction(*args: Any, **kwargs: Any) -> Iterator[Any]:
        started = time.thread_time()
        current.kind = "other"
        try:
            with original_transaction(*args, **kwargs) as connection:
                yield connection
        finally:
            spent[current.kind].append(time.thread_time() - started)

    async def run(self: Any, user_id: Any, work: Callable[[Any], Any], *, writes: bool) -> Any:
        method = work.__qualname__.split(".")[1] if "." in work.__qualname__ else "other"

        def named(connection: Any) -> Any:
            current.kind = KINDS.get(method, method)
            return work(connection)

        return await original_run(self, user_id, named, writes=writes)

    transactions.transaction = timed_transaction  # type: ignore[assignment]
    transactions.Database._run = run  # type: ignore[method-assign]
    return spent


def child(source: str, requests: int, postgres: bool) -> None:
    sys.path.insert(0, source)
    import cpu_mix
    from common import seed_tasks

    owners = {f"user-{n:04d}": cpu_mix.TASKS_PER_USER for n in range(cpu_mix.USERS)}
    cluster = None
    if postgres:
        import pg_databases

        cluster = pg_databases.Cluster(
            os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
        )
        database = cluster.create_database("dbthreads")
        ids = seed_tasks(database.admin_url, owners, fresh=False)
        url = database.app_url
    else:
        folder = Path(tempfile.mkdtemp(prefix="db-threads-"))
        url = f"sqlite:///{folder / 'tasks.db'}"
        ids = seed_tasks(url, owners)
    os.environ.update(BETTER_AUTH_SECRET=SECRET, DATABASE_URL=url, LOG_LEVEL="INFO")
    spent = _instrument()
    from todo_api.logs import configure_logging
    from todo_api.main import create_app
    from todo_api.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level)
    app = create_app(settings)
    try:
        per_request = asyncio.run(_measure(cpu_mix, app, ids, requests, spent))
    finally:
        if cluster is not None:
            cluster.drop_all()
    print(json.dumps(per_request))


async def _measure(
    cpu_mix: Any, app: Any, ids: dict[str, list[int]], requests: int, spent: dict[str, list[float]]
) -> dict[str, float]:
    original_timed = cpu_mix._timed

    async def timed(*args: Any) -> float:
        warm, measured, tokens = args[1], args[2], args[3]
        if await cpu_mix._drive(args[0], warm, tokens):
            raise SystemExit("warm-up requests were not 2xx")
        spent.clear()
        return float(await original_timed(args[0], [], measured, tokens))

    cpu_mix._timed = timed
    total = await cpu_mix._measure(app, ids, requests)
    result = {"process": total}
    for kind, values in spent.items():
        result[kind] = statistics.mean(values) * 1e6
    result["db_threads"] = sum(sum(values) for values in spent.values()) / requests * 1e6
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("contenders", nargs="*")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.requests, args.postgres)
        return
    from common import BENCH
    from compare import extract

    sources: dict[str, str] = {}
    for name in args.contenders:
        if name == ".":
            sources[name] = str(BENCH.parent / "backend" / "src")
        else:
            sha, src = extract(name)
            sources[f"{name} ({sha})"] = str(src)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in sources}
    for round_ in range(args.rounds):
        order = list(sources.items())
        for name, source in order if round_ % 2 == 0 else reversed(order):
            command = [
                sys.executable,
                __file__,
                "--child",
                source,
                "--requests",
                str(args.requests),
            ]
            out = subprocess.run(
                command + (["--postgres"] if args.postgres else []),
                capture_output=True, text=True, check=True,
                env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
            )  # fmt: skip
            results[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"round {round_ + 1}: {name} {results[name][-1]}", file=sys.stderr)
    columns = ["process", "db_threads", "list", "get", "create", "toggle", "rename"]
    print("| contender | " + " | ".join(f"{c} µs" for c in columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, rounds in results.items():
        cells = [
            f"{statistics.median(r.get(c, float('nan')) for r in rounds):.0f}" for c in columns
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
