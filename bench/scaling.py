"""List latency against table size: it must stay flat (an index range scan), not grow with rows."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from asgi import timed
from common import QUICK, SECRET, mint, percentile, seed_tasks
from stores import SQLITE, Store
from todo_api.main import create_app
from todo_api.settings import Settings

SMALL = "user-with-20"
LARGE = "user-with-2000"


async def _measure(url: str, user: str, ids: list[int], rounds: int) -> dict[str, float]:
    settings = Settings(_env_file=None, BETTER_AUTH_SECRET=SECRET, DATABASE_URL=url)  # type: ignore[call-arg]
    app = create_app(settings)
    token = mint(user)
    path = f"/api/{user}/tasks"
    # A deep page: the last page of 20 (for the 20-task user, the second half of 10).
    newest_first = sorted(ids, reverse=True)
    owned = len(ids)
    deep_cursor = str(newest_first[owned - 21]) if owned > 20 else str(newest_first[9])
    first: list[float] = []
    deep: list[float] = []
    async with app.router.lifespan_context(app):
        for _ in range(50):
            await timed(app, "GET", path, token=token)
        for _ in range(rounds):
            first.append(await timed(app, "GET", path, token=token))
            deep.append(await timed(app, "GET", path, token=token, query=f"cursor={deep_cursor}"))
    return {
        "first_p50_ms": percentile(first, 50) * 1000,
        "first_p99_ms": percentile(first, 99) * 1000,
        "deep_p50_ms": percentile(deep, 50) * 1000,
        "deep_p99_ms": percentile(deep, 99) * 1000,
    }


def run(store: Store = SQLITE) -> list[dict[str, Any]]:
    sizes = (1_000, 100_000, 1_000_000)
    rounds = 200 if QUICK else 1000
    results = []
    for total in sizes:
        started = time.monotonic()
        target = store.create(f"scale-{total}")
        # The 2,000-task user fits from 100k rows on; at 1k the table holds the 20-task user.
        owners = {SMALL: 20, LARGE: 2000} if total >= 10_000 else {SMALL: 20}
        ids = seed_tasks(target.seed_url, owners, filler_rows=total - sum(owners.values()))
        store.settle(target)
        seeded = time.monotonic() - started
        try:
            for user, owned in owners.items():
                row = {"table_rows": total, "user_rows": owned, "seed_s": round(seeded, 1)}
                row |= asyncio.run(_measure(target.app_url, user, ids[user], rounds))
                print(
                    f"  {total:>9,} rows, user has {owned}: first {row['first_p50_ms']:.2f} ms, "
                    f"deep {row['deep_p50_ms']:.2f} ms (seeded in {seeded:.1f} s)"
                )
                results.append(row)
        finally:
            target.discard()
    return results
