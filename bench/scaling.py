"""List latency against table size: it must stay flat (an index range scan), not grow with rows.

Alone (the section of `make bench`, then of §6): `PYTHONPATH=bench:backend/tests
.venv/bin/python bench/scaling.py [sqlite|postgresql]` prints each table's figures and the
ratio lines of docs/benchmarks.md; with no argument, both databases (PostgreSQL at BENCH_PG_URL,
skipped when nothing answers there). BENCH_QUICK=1 takes fewer rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from asgi import timed
from common import IN_PROCESS_LIMITS, QUICK, SECRET, mint, percentile, seed_tasks
from stores import SQLITE, Store, Target
from todo_api.main import create_app
from todo_api.settings import Settings

SMALL = "user-with-20"
LARGE = "user-with-2000"
BLOCK = 25


@dataclass
class _Case:
    """One user in one table, and the samples taken for it."""

    url: str
    user: str
    ids: list[int]
    first: list[float] = field(default_factory=list)
    deep: list[float] = field(default_factory=list)
    # First pages of the sorted, filtered and searched lists (docs/lists.md).
    by_due: list[float] = field(default_factory=list)
    by_title: list[float] = field(default_factory=list)
    search: list[float] = field(default_factory=list)

    def app(self) -> FastAPI:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            BETTER_AUTH_SECRET=SECRET,
            DATABASE_URL=self.url,
            **IN_PROCESS_LIMITS,
        )
        return create_app(settings)

    async def sample(self, app: FastAPI, token: str) -> None:
        path = f"/api/{self.user}/tasks"
        # A deep page: the last page of 20 (for the 20-task user, the second half of 10).
        newest_first = sorted(self.ids, reverse=True)
        owned = len(self.ids)
        cursor = newest_first[owned - 21] if owned > 20 else newest_first[9]
        self.first.append(await timed(app, "GET", path, token=token))
        self.deep.append(await timed(app, "GET", path, token=token, query=f"cursor={cursor}"))
        self.by_due.append(await timed(app, "GET", path, token=token, query="sort=-due_at"))
        self.by_title.append(
            await timed(app, "GET", path, token=token, query="sort=title&status=pending")
        )
        # Few matches: the whole of the user's tasks is read.
        self.search.append(await timed(app, "GET", path, token=token, query="q=task%2012"))

    def figures(self) -> dict[str, float]:
        return {
            "first_p50_ms": percentile(self.first, 50) * 1000,
            "first_p99_ms": percentile(self.first, 99) * 1000,
            "deep_p50_ms": percentile(self.deep, 50) * 1000,
            "deep_p99_ms": percentile(self.deep, 99) * 1000,
            "by_due_p50_ms": percentile(self.by_due, 50) * 1000,
            "by_title_p50_ms": percentile(self.by_title, 50) * 1000,
            "search_p50_ms": percentile(self.search, 50) * 1000,
        }


async def _measure(cases: list[_Case], rounds: int) -> None:
    """The cases take turns, a block of rounds each: a busy neighbour slows every table alike, so
    their ratio holds on a shared machine (one round each in turn would measure cold caches)."""
    async with contextlib.AsyncExitStack() as stack:
        apps = [case.app() for case in cases]
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
        tokens = [mint(case.user) for case in cases]
        for turn in range(-1, rounds // BLOCK):  # turn -1: the warm-up, not kept
            for case, app, token in zip(cases, apps, tokens, strict=True):
                for _ in range(BLOCK):
                    await case.sample(app, token)
                if turn < 0:
                    for samples in (case.first, case.deep, case.by_due, case.by_title):
                        samples.clear()
                    case.search.clear()


def run(store: Store = SQLITE) -> list[dict[str, Any]]:
    sizes = (1_000, 100_000, 1_000_000)
    rounds = 200 if QUICK else 1000
    targets: list[Target] = []
    rows: list[dict[str, Any]] = []
    cases: list[_Case] = []
    try:
        for total in sizes:
            started = time.monotonic()
            target = store.create(f"scale-{total}")
            targets.append(target)
            # The 2,000-task user fits from 100k rows on; at 1k the table holds the 20-task user.
            owners = {SMALL: 20, LARGE: 2000} if total >= 10_000 else {SMALL: 20}
            ids = seed_tasks(target.seed_url, owners, filler_rows=total - sum(owners.values()))
            store.settle(target)
            seeded = round(time.monotonic() - started, 1)
            print(f"  {total:>9,} rows seeded in {seeded:.1f} s")
            for user, owned in owners.items():
                rows.append({"table_rows": total, "user_rows": owned, "seed_s": seeded})
                cases.append(_Case(target.app_url, user, ids[user]))
        asyncio.run(_measure(cases, rounds))
    finally:
        for target in targets:
            target.discard()
    for row, case in zip(rows, cases, strict=True):
        row |= case.figures()
        print(
            f"  {row['table_rows']:>9,} rows, user has {row['user_rows']}: "
            f"first {row['first_p50_ms']:.2f} ms, deep {row['deep_p50_ms']:.2f} ms, "
            f"-due_at {row['by_due_p50_ms']:.2f} ms, title {row['by_title_p50_ms']:.2f} ms, "
            f"q {row['search_p50_ms']:.2f} ms"
        )
    return rows


def main(databases: list[str]) -> None:
    import pg
    import report

    for database in databases or ["sqlite", "postgresql"]:
        if database == "sqlite":
            print("sqlite scaling with data")
            rows = run()
        else:
            server, version = pg.server_version(pg.ADMIN_URL)
            if version is None:
                print(f"postgresql: skipped, nothing answered at {server} (BENCH_PG_URL)")
                continue
            print(f"postgresql scaling with data: {version} at {server}")
            store = pg.PostgresStore(pg.ADMIN_URL)
            with pg.terminated_as_exit():
                try:
                    rows = run(store)
                finally:
                    store.drop_all()
        print("\n".join(report.scaling_lines(rows)))


if __name__ == "__main__":
    if not set(sys.argv[1:]) <= {"sqlite", "postgresql"}:
        sys.exit("usage: bench/scaling.py [sqlite|postgresql]...")
    main(sys.argv[1:])
