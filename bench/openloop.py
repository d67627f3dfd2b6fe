"""Open-loop load: requests are sent on a fixed schedule whatever the server does.

wrk is closed-loop: a slow answer delays the next request, so queueing hides ("coordinated
omission"). Here request i is due at t0 + i/rate; latency is measured from that due time, so
time spent waiting for a free connection counts. wrk2 does this, but is not packaged by Debian.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import CLIENT_CPU, percentile

BUDGET_MS = 50.0


@dataclass
class UserLine:
    id: str
    token: str
    tasks: list[str]


def load_users(path: Path) -> list[UserLine]:
    users = []
    for line in path.read_text().splitlines():
        user_id, token, ids = line.split(" ")
        users.append(UserLine(user_id, token, ids.split(",")))
    return users


def _request(user: UserLine, rng: random.Random) -> bytes:
    """The same mix as bench/mix.lua."""
    roll = rng.randint(1, 100)
    base = f"/api/{user.id}/tasks"
    task = f"{base}/{rng.choice(user.tasks)}"
    method, path, body = "GET", base, b""
    if 70 < roll <= 85:
        path = task
    elif 85 < roll <= 90:
        method, body = "POST", b'{"title":"bench task"}'
    elif 90 < roll <= 95:
        method, path = "PATCH", f"{task}/complete"
    elif roll > 95:
        method, path, body = "PATCH", task, b'{"title":"renamed by bench"}'
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {user.token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _run(
    port: int, users: list[UserLine], rate: float, seconds: float, connections: int
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    total = int(rate * seconds)
    rng = random.Random(42)
    requests = [_request(rng.choice(users), rng) for _ in range(total)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    next_index = 0
    start = loop.time() + 0.5

    async def connection() -> None:
        nonlocal next_index, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while next_index < total:
                index = next_index
                next_index += 1
                due = start + index / rate
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                try:
                    writer.write(requests[index])
                    status = await _read_response(reader)
                except (OSError, asyncio.IncompleteReadError):
                    errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                latencies.append((loop.time() - due) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    # Bounded: a server that falls far behind ends the step rather than the benchmark.
    _, pending = await asyncio.wait(workers, timeout=seconds + 30)
    for task in pending:
        task.cancel()
    non_2xx = sum(n for status, n in statuses.items() if not 200 <= status < 300)
    unfinished = total - len(latencies)
    return {
        "rate": rate,
        "sent": total,
        "completed": len(latencies),
        "p50_ms": percentile(latencies, 50),
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99) if not unfinished else float("inf"),
        "non_2xx": non_2xx,
        "errors": errors + unfinished,
    }


def measure(
    port: int, users_file: Path, rate: float, seconds: float, connections: int = 256
) -> dict[str, Any]:
    os.sched_setaffinity(0, {int(CLIENT_CPU)})
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        runner = asyncio.run
    users = load_users(users_file)
    started = time.monotonic()
    result = runner(_run(port, users, rate, seconds, connections))
    result["wall_s"] = round(time.monotonic() - started, 1)
    return result


def search(port: int, users_file: Path, closed_loop_rps: float, quick: bool) -> dict[str, Any]:
    """Raise the offered rate until p99 breaks the budget; report the highest rate that held."""
    seconds = 5.0 if quick else 12.0
    fractions = [0.3, 0.5, 0.7, 0.85, 1.0] if quick else [0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]
    steps: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    failed: float | None = None

    def attempt(rate: float) -> bool:
        nonlocal best, failed
        step = measure(port, users_file, rate, seconds)
        step["ok"] = step["p99_ms"] < BUDGET_MS and step["errors"] == 0 and step["non_2xx"] == 0
        steps.append(step)
        print(f"  open loop {rate:.0f}/s: p50 {step['p50_ms']:.1f} ms, p99 {step['p99_ms']:.1f} ms")
        if step["ok"]:
            best = step if best is None or rate > best["rate"] else best
        else:
            failed = rate if failed is None else min(failed, rate)
        time.sleep(1)
        return bool(step["ok"])

    for fraction in fractions:
        if not attempt(max(10.0, round(closed_loop_rps * fraction, -1))):
            break
    # Two bisection steps between the last rate that held and the first that did not.
    for _ in range(2):
        if best is None or failed is None or failed - best["rate"] < 20:
            break
        attempt(round((best["rate"] + failed) / 2, -1))
    return {"budget_ms": BUDGET_MS, "best": best, "steps": steps}


def held(search_result: dict[str, Any]) -> float:
    """The highest rate a search held (0 when none did)."""
    best = search_result["best"]
    return float(best["rate"]) if best else 0.0


def median_search(searches: list[dict[str, Any]]) -> dict[str, Any]:
    """The search whose held rate is the median of several, each on a fresh server, with every
    search's held rate beside it. One search decides each rate on one step's slowest 1% (50
    requests in quick mode): one stall of the machine fails a step the server holds in the next
    (research P38), as one run's p99 did in §3 (P37)."""
    ranked = sorted(searches, key=held)
    return {**ranked[len(ranked) // 2], "searches": [held(s) for s in searches]}
