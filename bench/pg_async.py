"""A single-exchange read on PostgreSQL: today's database threads against psycopg's
AsyncConnection on the event loop, CPU per read, in one process, interleaved blocks.

    PYTHONPATH=bench:backend/tests .venv/bin/python bench/pg_async.py [--blocks 20]
        [--reads 400] [--concurrency 1 --concurrency 20]

Both contenders send the same query string (the RLS bind and the store's own statement, bound on
the client) and fetch the same rows: a list of 20 (21 rows read) five times in six, else a get,
as the mix's reads. `threads` is the product's path (`Database.run(..., single=True)`: a hop to a
database thread, a connection from SQLAlchemy's pool, the exchange on psycopg's blocking
connection). `async` is what the product would do on the loop: a connection from a small pool of
`AsyncConnection`s (as many as the product's pool keeps, 5), `AsyncClientCursor` in autocommit,
no hop. Blocks alternate ABBA; each reports the process's CPU (`time.process_time`, every thread)
per read, the CPU of the PostgreSQL backends (/proc) and the wall time per read, with
`--concurrency` reads in flight. The database is made and seeded as `bench/cpu_mix.py --postgres`
does (200 users, 20 tasks each; BENCH_PG_URL, a local superuser).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg import AsyncClientCursor

USERS = 200
TASKS_PER_USER = 20
POOL = 5


class AsyncPool:
    """Up to `size` AsyncConnections, kept; a reader waits for one to come back."""

    def __init__(self, conninfo: str, size: int) -> None:
        self.conninfo = conninfo
        self.size = size
        self.idle: deque[psycopg.AsyncConnection[Any]] = deque()
        self.opened = 0
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.pids: set[int] = set()

    async def get(self) -> psycopg.AsyncConnection[Any]:
        while not self.idle:
            if self.opened < self.size:
                self.opened += 1
                connection = await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True, prepare_threshold=None
                )
                self.pids.add(connection.info.backend_pid)
                return connection
            waiter = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
            await waiter
        return self.idle.pop()

    def put(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self.idle.append(connection)
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break


def _backend_seconds(pids: set[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / tick


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--reads", type=int, default=400)
    parser.add_argument("--concurrency", type=int, action="append")
    args = parser.parse_args()
    concurrencies = args.concurrency or [1, 20]

    from sqlalchemy import event
    from sqlalchemy.engine import make_url

    from common import seed_tasks
    from fixtures.pg_databases import Cluster
    from todo_api.db import Database, make_engine
    from todo_api.db.driver import DriverStatement
    from todo_api.db.engine import PoolOptions
    from todo_api.db.transactions import _BIND_USER
    from todo_api.tasks import store
    from todo_api.tasks.listing import DEFAULT_SORT, Sort

    cluster = Cluster(
        os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres")
    )
    try:
        database = cluster.create_database("pg_async")
        ids = seed_tasks(
            database.admin_url, {f"user-{n:04d}": TASKS_PER_USER for n in range(USERS)}
        )
        engine = make_engine(database.app_url, PoolOptions(size=POOL))
        threads_pids: set[int] = set()

        @event.listens_for(engine, "connect")
        def _connected(dbapi_connection: Any, _: Any) -> None:
            threads_pids.add(dbapi_connection.info.backend_pid)

        db = Database(engine, threads=POOL)
        conninfo = (
            make_url(database.app_url)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )
        pool = AsyncPool(conninfo, POOL)
        dialect = engine.dialect
        shape = store.ListShape(Sort.named(DEFAULT_SORT), "none")
        listing = store.list_statement(shape)
        getting: DriverStatement = store._GET
        bind = _BIND_USER.rendered(dialect)

        def read(draw: random.Random) -> tuple[DriverStatement, dict[str, Any], str]:
            user = draw.choice(sorted(ids))
            if draw.randint(1, 6) <= 5:
                return listing, {"p_owner_id": user, "p_limit": 21}, user
            return getting, {"p_owner_id": user, "p_task_id": draw.choice(ids[user])}, user

        async def on_threads(statement: DriverStatement, params: dict[str, Any], user: str) -> int:
            rows = await db.run(user, lambda c: statement.rows(c, params), single=True)
            return len(rows)

        async def on_loop(statement: DriverStatement, params: dict[str, Any], user: str) -> int:
            connection = await pool.get()
            try:
                cursor = AsyncClientCursor(connection)
                rendered = statement.rendered(dialect)
                query = (
                    cursor.mogrify(bind.sql, bind.values({"user_id": user}))
                    + ";\n"
                    + cursor.mogrify(rendered.sql, rendered.values(params))
                )
                await cursor.execute(query, prepare=False)
                while cursor.nextset():
                    pass
                rows = await cursor.fetchall()
                await cursor.close()
            except BaseException:
                await connection.close()
                pool.opened -= 1
                raise
            pool.put(connection)
            return len(rows)

        contenders: dict[str, tuple[Callable[..., Awaitable[int]], set[int]]] = {
            "threads": (on_threads, threads_pids),
            "async": (on_loop, pool.pids),
        }

        async def block(name: str, concurrency: int, seed: int) -> dict[str, float]:
            run, pids = contenders[name]
            draw = random.Random(seed)
            work = [read(draw) for _ in range(args.reads)]
            queue = deque(work)

            async def worker() -> None:
                while queue:
                    await run(*queue.popleft())

            server = _backend_seconds(pids)
            wall = time.perf_counter()
            cpu = time.process_time()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            cpu = time.process_time() - cpu
            wall = time.perf_counter() - wall
            server = _backend_seconds(pids) - server
            return {
                "us": cpu / len(work) * 1e6,
                "postgres": server / len(work) * 1e6,
                "wall": wall / len(work) * 1e6,
            }

        for concurrency in concurrencies:
            for name in contenders:  # warm: connections opened, statements rendered
                await block(name, concurrency, seed=0)
            figures: dict[str, dict[str, list[float]]] = {name: {} for name in contenders}
            for number in range(args.blocks):
                order = list(contenders) if number % 4 in (0, 3) else list(reversed(contenders))
                for name in order:
                    for part, value in (await block(name, concurrency, seed=number + 1)).items():
                        figures[name].setdefault(part, []).append(value)
            ratios = [
                a / t for a, t in zip(figures["async"]["us"], figures["threads"]["us"], strict=True)
            ]
            print(f"concurrency {concurrency}, {args.blocks} blocks of {args.reads} reads")
            for name, parts in figures.items():
                shown = ", ".join(
                    f"{part} {statistics.median(values):.0f}" for part, values in parts.items()
                )
                print(f"  {name}: median µs per read: {shown}")
            quartiles = statistics.quantiles(ratios, n=4)
            print(
                f"  async / threads, app CPU per block: median {statistics.median(ratios):.3f}"
                f" (quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f}),"
                f" async cheaper in {sum(r < 1 for r in ratios)} of {len(ratios)}"
            )
        db.close()
        for connection in pool.idle:
            await connection.close()
    finally:
        cluster.drop_all()


if __name__ == "__main__":
    asyncio.run(main())
