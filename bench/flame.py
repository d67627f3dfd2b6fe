"""Where a server's time goes under the mix: py-spy attached to it while wrk runs (issue 15).

    PYTHONPATH=bench:backend/tests .venv/bin/python bench/flame.py [--script floor.py]
        [--seconds 20] [--out docs/profiles/product]

Writes OUT.svg (a flame graph) and OUT.txt (collapsed stacks, one line per stack and its sample
count: the input of flamegraph.pl or speedscope), and prints each thread's share of the samples
and the event loop's time by the module that spends it. Sampling runs in its own process at 100
Hz: the server carries no profiling code, and the load is the usual 100 connections.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import load
from common import REPO, running_server

# The first matching needle (in a frame's file path or name) names where the time goes.
BUCKETS = (
    ("json log line (formatter, stderr)", ("logs.py", "logging/__init__", "json/encoder")),
    ("access log fields and route lookup", ("request_id.py:_access_fields", "path_template")),
    ("token verification (first sight)", ("jwt/", "tokens.py", "cryptography")),
    ("SQLite (driver)", ("sqlite3",)),
    ("SQLAlchemy", ("sqlalchemy/",)),
    ("pydantic validation and serialisation", ("pydantic", "fastapi/_compat")),
    ("FastAPI routing and dependencies", ("fastapi/",)),
    ("Starlette routing, responses and middleware", ("starlette/",)),
    ("the product's middleware", ("todo_api/middleware", "todo_api/auth", "todo_api/ratelimit")),
    ("the product's routes, service and store", ("todo_api/tasks", "todo_api/db")),
    ("the floor's app (bench/floor.py)", ("floor.py",)),
    ("uvicorn HTTP protocol", ("uvicorn/", "todo_api/server.py", "httptools")),
    ("the event loop and thread hand-offs", ("asyncio/", "concurrent/futures", "threading.py")),
)


def record(pid: int, seconds: int, out: Path, fmt: str) -> None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    subprocess.run(
        [py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "100",
         "--threads", "--nonblocking", "--format", fmt, "--output", str(out)],
        check=True, capture_output=True, timeout=seconds + 60,
    )  # fmt: skip


def bucket(stack: list[str]) -> str:
    """The innermost frame that a bucket claims, so a SQLAlchemy call made by the store counts as
    SQLAlchemy and the store's own lines as the store's."""
    for frame in reversed(stack):
        for name, needles in BUCKETS:
            if any(needle in frame for needle in needles):
                return name
    return "other (interpreter, event loop)"


def summarise(collapsed: Path) -> dict[str, Any]:
    threads: collections.Counter[str] = collections.Counter()
    loop: collections.Counter[str] = collections.Counter()
    for line in collapsed.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        stack = stack_text.split(";")
        count = int(count_text)
        thread = stack[0].partition(": ")[2]  # "thread (TID): NAME"
        if thread == "MainThread":
            name = "event loop"
        elif thread.startswith("db"):
            name = "database threads"
        elif "_monitor" in thread or "log-writer" in thread:
            name = "log writer"
        else:
            name = thread
        threads[name] += count
        if name == "event loop":
            loop[bucket(stack)] += count
    loop_total = sum(loop.values()) or 1
    return {
        "threads": dict(threads.most_common()),
        "loop_share": {k: round(v / loop_total, 3) for k, v in loop.most_common()},
    }


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--script", default="server.py", help="server.py (product) or floor.py")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "profiles" / "product")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pristine, users_file = load.reuse_or_prepare()
    target = pristine.copy("profile")
    try:
        with running_server(target.app_url, script=args.script) as server:
            load.wrk(server, users_file, 100, 5)  # warm-up
            for fmt, suffix in (("raw", ".txt"), ("flamegraph", ".svg")):
                sampler = threading.Thread(
                    target=record,
                    args=(server.pid, args.seconds, args.out.with_suffix(suffix), fmt),
                )
                sampler.start()
                result = load.wrk(server, users_file, 100, args.seconds + 2)
                sampler.join()
                print(f"  {fmt}: {result['rps']:.0f} req/s under the profiler")
    finally:
        target.discard()
    summary = summarise(args.out.with_suffix(".txt"))
    print("samples per thread:", summary["threads"])
    print("event loop, by where its time goes:")
    for name, share in summary["loop_share"].items():
        print(f"  {share:6.1%}  {name}")
    return summary


if __name__ == "__main__":
    main()
