"""The cost of the abuse limits: the same load with limits off, counted in the process (the
default) and counted in Redis, interleaved round by round in one run.

The budgets are the defaults (600 requests and 120 writes a minute per user): the 10,000 users of
the mix never reach them, so every variant answers the same requests and only the counting
differs. Redis is skipped, and says so, when nothing answers on 127.0.0.1:6379.
"""

from __future__ import annotations

import socket
import statistics
from pathlib import Path
from typing import Any

import load
from common import QUICK
from stores import Target

REDIS_URL = "redis://127.0.0.1:6379/15"
OFF = {
    "RATE_LIMIT": "off",
    "RATE_LIMIT_WRITES": "off",
    "RATE_LIMIT_AUTH_FAILURES": "off",
    "MAX_TASKS_PER_USER": "off",
}


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def run(pristine: Target, users_file: Path) -> dict[str, Any]:
    variants: dict[str, dict[str, str]] = {
        "limits off": OFF,
        "limits in memory (default)": {},
    }
    if redis_answers():
        variants["limits in Redis"] = {"RATE_LIMIT_STORAGE_URL": REDIS_URL}
    # Identical rounds differ by up to 20 % on a 2-core machine: five rounds, and the ratios also
    # taken round by round (each round runs every variant back to back).
    rounds = 3 if QUICK else 5
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for turn in range(rounds):
        names = list(variants)
        for name in names[turn % len(names) :] + names[: turn % len(names)]:
            seconds = 5 if QUICK else 10
            settings = variants[name]
            runs[name].append(
                load.scenario(pristine, users_file, name, seconds=seconds, settings=settings)
            )
    rows = [median_row(name, results) for name, results in runs.items()]
    off = rows[0]
    paired = {
        name: statistics.median(
            mine["rps"] / base["rps"]
            for mine, base in zip(results, runs["limits off"], strict=True)
        )
        for name, results in runs.items()
    }
    # Capacity on a busy core is the inverse of the CPU each request costs: the steadier figure
    # on a shared machine, where throughput swings with the neighbours.
    return {
        "rounds": rounds,
        "rows": rows,
        "ratio_memory": rows[1]["rps"] / off["rps"],
        "paired_ratio_memory": paired["limits in memory (default)"],
        "paired_ratio_redis": paired.get("limits in Redis"),
        "ratio_redis": rows[2]["rps"] / off["rps"] if len(rows) > 2 else None,
        "cpu_ratio_memory": off["cpu_us_per_request"] / rows[1]["cpu_us_per_request"],
        "cpu_ratio_redis": (
            off["cpu_us_per_request"] / rows[2]["cpu_us_per_request"] if len(rows) > 2 else None
        ),
    }


def median_row(name: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name}
    for key in (
        "rps",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "rss_before_mib",
        "rss_after_mib",
        "cpu_us_per_request",
    ):
        row[key] = statistics.median(r[key] for r in results)
    row["non_2xx"] = sum(r["non_2xx"] for r in results)
    row["socket_errors"] = sum(r["socket_errors"] for r in results)
    return row
