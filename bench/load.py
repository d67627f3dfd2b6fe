"""Closed-loop load with wrk: 10,000 users with their own tokens and tasks, a realistic mix."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from common import (
    BENCH,
    CLIENT_CPU,
    QUICK,
    Server,
    cpu_seconds,
    mint,
    rss_kib,
    running_server,
    seed_tasks,
    sqlite_url,
    work_dir,
)
from stores import SQLITE, Store, Target

USERS = 10_000
TASKS_PER_USER = 20


def prepare(store: Store = SQLITE, users: int = USERS) -> tuple[Target, Path, float]:
    """A pristine database with `users` × 20 tasks, the users file the Lua script reads, and
    how long the seeding took (seconds)."""
    users_file = work_dir() / "users.txt"
    owners = [f"user-{i:05d}" for i in range(users)]
    started = time.monotonic()
    pristine = store.create("load-pristine")
    ids = seed_tasks(pristine.seed_url, dict.fromkeys(owners, TASKS_PER_USER))
    store.settle(pristine)
    with users_file.open("w") as out:
        for owner in owners:
            out.write(f"{owner} {mint(owner)} {','.join(map(str, ids[owner]))}\n")
    seeded = time.monotonic() - started
    print(f"  seeded {users} users × {TASKS_PER_USER} tasks in {seeded:.1f} s")
    return pristine, users_file, round(seeded, 1)


def reuse_or_prepare() -> tuple[Target, Path]:
    """The last run's SQLite data and users file when both are still there, else new ones."""
    seeded = work_dir() / "load-pristine.db"
    users_file = work_dir() / "users.txt"
    if seeded.exists() and users_file.exists():
        return Target(sqlite_url(seeded), sqlite_url(seeded), SQLITE), users_file
    pristine, users_file, _ = prepare()
    return pristine, users_file


def wrk(
    server: Server,
    users_file: Path,
    connections: int,
    seconds: int,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit(
            "wrk is not installed: `apt-get install -y wrk` (make bench does this as root)"
        )
    threads = 2 if connections >= 2 else 1
    command = [
        "taskset", "-c", CLIENT_CPU, "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
        "--timeout", "10s", "-s", str(BENCH / "mix.lua"), server.base, "--", str(users_file),
    ]  # fmt: skip
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
        env=os.environ | (env or {}),
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("WRK_JSON "))
    raw = json.loads(line.removeprefix("WRK_JSON "))
    duration = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "connections": connections,
        "seconds": round(duration, 1),
        "requests": raw["requests"],
        "rps": raw["requests"] / duration,
        "p50_ms": raw["p50"] / 1000,
        "p90_ms": raw["p90"] / 1000,
        "p99_ms": raw["p99"] / 1000,
        "p999_ms": raw["p999"] / 1000,
        "max_ms": raw["max"] / 1000,
        "non_2xx": raw["status"],
        "socket_errors": errors,
    }


def scenario(
    pristine: Target,
    users_file: Path,
    name: str,
    *,
    connections: int = 100,
    seconds: int | None = None,
    wrk_env: dict[str, str] | None = None,
    **server_options: Any,
) -> dict[str, Any]:
    seconds = seconds or (8 if QUICK else 30)
    target = pristine.copy(name)
    try:
        with running_server(target.app_url, **server_options) as server:
            rss_before = rss_kib(server.pid)
            wrk(server, users_file, connections, 2 if QUICK else 5, wrk_env)  # warm-up
            cpu_before = cpu_seconds(server.pid)
            result = wrk(server, users_file, connections, seconds, wrk_env)
            cpu = cpu_seconds(server.pid) - cpu_before
            result["cpu_us_per_request"] = cpu / max(result["requests"], 1) * 1e6
            result["rss_before_mib"] = rss_before / 1024
            result["rss_after_mib"] = rss_kib(server.pid) / 1024
        sessions = target.store.sessions(target)
        if sessions is not None:  # warm-up included; a pool that fits opens a few only
            result["db_sessions"] = sessions
    finally:
        target.discard()
    result["name"] = name
    print(
        f"  {name}: {result['rps']:.0f} req/s, p50 {result['p50_ms']:.1f} ms, "
        f"p99 {result['p99_ms']:.1f} ms, non-2xx {result['non_2xx']}, "
        f"errors {result['socket_errors']}"
    )
    return result


def sweep(pristine: Target, users_file: Path) -> list[dict[str, Any]]:
    """Latency percentiles against concurrency, one server for the whole sweep."""
    seconds = 5 if QUICK else 15
    results = []
    with running_server(pristine.copy("sweep").app_url) as server:
        wrk(server, users_file, 100, 2 if QUICK else 5)
        for connections in (10, 50, 100, 200):
            result = wrk(server, users_file, connections, seconds)
            print(
                f"  c={connections}: {result['rps']:.0f} req/s, p50 {result['p50_ms']:.1f} ms, "
                f"p99 {result['p99_ms']:.1f} ms, non-2xx {result['non_2xx']}"
            )
            results.append(result)
    return results


MEDIAN_KEYS = ("rps", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "cpu_us_per_request")


def interleaved(
    pristine: Target,
    users_file: Path,
    contenders: dict[str, dict[str, Any]],
    rounds: int,
    *,
    seconds: int | None = None,
    connections: int = 100,
) -> dict[str, dict[str, Any]]:
    """Each contender's `scenario` in turn (A B A B ...), `rounds` times; medians per contender.

    Drift and other jobs on the machine then hit every contender alike. The medians row keeps the
    sum of non-2xx and socket errors over all rounds, and every round's raw figures.
    """
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, options in contenders.items():
            runs[name].append(
                scenario(
                    pristine, users_file, name, connections=connections, seconds=seconds, **options
                )
            )
    medians: dict[str, dict[str, Any]] = {}
    for name, results in runs.items():
        row: dict[str, Any] = {"name": name, "rounds": len(results), "runs": results}
        for key in (*MEDIAN_KEYS, "rss_before_mib", "rss_after_mib"):
            row[key] = statistics.median(r[key] for r in results)
        row["non_2xx"] = sum(r["non_2xx"] for r in results)
        row["socket_errors"] = sum(r["socket_errors"] for r in results)
        # The tail against the median, per round then the median of those: one slow round's
        # p99 does not pair with another round's p50.
        row["tail_ratio"] = statistics.median(r["p99_ms"] / r["p50_ms"] for r in results)
        medians[name] = row
    return medians


def repeated(pristine: Target, users_file: Path, name: str, rounds: int) -> dict[str, Any]:
    """`scenario` `rounds` times in a row: medians, and the tail as the median of each run's own
    p99 / p50. One run's p99 is its slowest 1%: in an 8-30 s run, one stall of the machine (other
    work, a checkpoint) sets it, and the ratio of that run says more about the stall than about
    the server (research P37)."""
    return interleaved(pristine, users_file, {name: {}}, rounds)[name]


def against_floor(pristine: Target, users_file: Path) -> dict[str, Any]:
    """The product and bench/floor.py in the same interleaved rounds: what the framework and the
    product's guarantees cost over the bare mix (issue 15)."""
    rounds, seconds = (2, 8) if QUICK else (3, 15)
    rows = interleaved(
        pristine,
        users_file,
        {"product": {}, "floor": {"script": "floor.py"}},
        rounds,
        seconds=seconds,
    )
    product, floor = rows["product"], rows["floor"]
    return {
        "rounds": rounds,
        "seconds": seconds,
        "rows": [product, floor],
        "rps_ratio": product["rps"] / floor["rps"],
        "p50_ratio": product["p50_ms"] / floor["p50_ms"],
        "p99_ratio": product["p99_ms"] / floor["p99_ms"],
        "cpu_ratio": product["cpu_us_per_request"] / floor["cpu_us_per_request"],
        # Each round's own ratio, to see the spread the medians hide.
        "rps_ratio_rounds": [
            p["rps"] / f["rps"] for p, f in zip(product["runs"], floor["runs"], strict=True)
        ],
    }
