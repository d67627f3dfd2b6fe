"""Where a request's CPU goes, layer by layer: the mix of bench/cpu_mix.py in process, sampled.

    PYTHONPATH=bench:backend/tests .venv/bin/python bench/mix_profile.py [--requests 20000]
        [--src backend/src|REVISION] [--raw OUT.txt]

Runs `cpu_mix.py`'s child (a SQLite file, the app's lifespan, the mix one request at a time
through ASGI) under py-spy (requirements/bench.lock) at ~1 kHz with `--gil`: only the thread
holding the GIL is sampled, so a thread that waits (the loop in `select`, a database thread for
its next job, SQLite's fsync) counts nothing. The child also reads each thread's user and system
CPU from /proc around the measured requests. A thread's user CPU is split over its samples, each
sample going to the innermost frame that names a layer (LAYERS, outermost first: a layer's
figure is its own cost, its inner layers apart); its system CPU (futex wakes, epoll, writes) is
a row of its own. SQLite's C work, which runs without the GIL, is spread over the thread's
sampled layers. The sampler inflates the totals a little: compare rows, not runs.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import BENCH

# (layer, needles): a frame whose text contains a needle belongs to the layer. Outermost first;
# the innermost match wins.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("event loop: callbacks, wake-ups, the bench's client", ("_drive (", "asgi.py")),
    (
        "Starlette/FastAPI outer stack (500 handler, telemetry, app body limit)",
        (
            "FastAPI.__call__",
            "Starlette.__call__",
            "ServerErrorMiddleware",
            "fastapi/telemetry",
            "fastapi/_body_limit",
        ),
    ),
    ("request id + hardening headers", ("RequestIdMiddleware.", "new_request_id")),
    (
        "access line (fields, JSON, sink)",
        ("log_access", "log_request", "todo_api/logs.py", "todo_api/log_lines"),
    ),
    ("cancellation middleware", ("CancelledRequestMiddleware",)),
    ("CORS middleware (simple response)", ("CORSMiddleware",)),
    (
        "authentication (token cache, identity, Server-Timing)",
        ("AuthMiddleware", "token_cache", "identity.py"),
    ),
    ("per-user rate limits (counters, headers)", ("UserRateLimitMiddleware", "todo_api/ratelimit")),
    ("HEAD middleware", ("HeadMiddleware",)),
    ("body limit middleware", ("BodyLimitMiddleware",)),
    (
        "FastAPI/Starlette routing (exception middleware, exit stacks, route matching)",
        (
            "ExceptionMiddleware",
            "_exception_handler",
            "AsyncExitStack",
            "Router.",
            "routing.py:",
            "fastapi/routing.py",
            "starlette/routing.py",
        ),
    ),
    ("request-shape checks (routing.py)", ("checked.<locals>", "RequestShape")),
    ("planned handler: sub-response, reply", ("_planned_handler", "starlette/responses.py")),
    ("planned parameter validation", ("_validated",)),
    ("dependencies: path owner, state", ("_solve", "path_owner", "_tasks (", "app_state")),
    (
        "routes, service, Database.run",
        ("todo_api/tasks/routes.py", "todo_api/tasks/service.py", "Database."),
    ),
    ("hand-off to a database thread (loop side)", ("Threads.call", "_settle")),
    ("response JSON (pydantic dump)", ("dump_json (",)),
    # The database threads.
    (
        "hand-off (thread side: wake, answer)",
        ("Threads._serve", "_outcome", "call_soon_threadsafe"),
    ),
    (
        "transaction: begin/commit on the kept connection",
        ("Database._on_held", "sqlalchemy/"),
    ),
    ("store: statements and parameters", ("todo_api/tasks/store.py", "todo_api/db/driver.py")),
    (
        "pydantic validation (rows -> Task; the reply's model)",
        ("validate_python", "model_validate"),
    ),
)
# A sample whose innermost frame is the loop's side of the hand-off is the sampler's misreading,
# not CPU: the lock's release measured alone with thread_time costs a few µs (research P26).
ARTEFACTS = ("Threads.call (",)


def layer(stack: list[str]) -> str | None:
    if not any("timed (" in frame or "Threads._serve" in frame for frame in stack):
        return None  # seeding, start-up, warm-up's setup
    found = "event loop: callbacks, wake-ups, the bench's client"
    for frame in stack[1:]:
        for name, needles in LAYERS:
            if any(needle in frame for needle in needles):
                found = name
    return found


def thread_kind(header: str) -> str:
    """py-spy's "thread (TID): NAME" as the thread's kind: MainThread, db or db-writer."""
    name = header.partition(": ")[2]
    return name.rsplit("-", 1)[0] if name.startswith("db") else name


def summarise(raw: Path, cpu: dict[str, dict[str, float]]) -> list[tuple[str, str, float]]:
    """(thread kind, layer, µs per request): each thread's user CPU split by its samples, its
    system CPU (futex wakes, epoll, writes: not Python, never sampled) a row of its own."""
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in raw.read_text().splitlines():
        stack_text, _, count = line.rpartition(" ")
        stack = stack_text.split(";")
        name = layer(stack)
        if name is not None and not any(needle in stack[-1] for needle in ARTEFACTS):
            counts[thread_kind(stack[0])][name] += int(count)
    rows = []
    for kind, figures in cpu.items():
        samples = counts.get(kind)
        total = sum(samples.values()) if samples else 0
        for name, n in (samples or {}).items():
            rows.append((kind, name, n / total * figures["user"]))
        rows.append((kind, "kernel (system CPU)", figures["sys"]))
    return sorted(rows, key=lambda row: -row[2])


def _thread_cpu() -> dict[str, tuple[float, float]]:
    """User and system CPU seconds of each live thread of this process, by kind (/proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, tuple[float, float]] = {}
    for thread in threading.enumerate():
        kind = thread.name.rsplit("-", 1)[0] if thread.name.startswith("db") else thread.name
        try:
            with open(f"/proc/self/task/{thread.native_id}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        user, system = out.get(kind, (0.0, 0.0))
        out[kind] = (user + int(fields[11]) / tick, system + int(fields[12]) / tick)
    return out


def child(src: str, requests: int) -> None:
    """cpu_mix's child, its measured requests timed per thread."""
    import cpu_mix

    async def timed(
        app: Any, warm: Any, measured: Any, tokens: Any, server: Any = None
    ) -> dict[str, Any]:
        await cpu_mix._drive(app, warm, tokens)
        before, started = _thread_cpu(), time.process_time()
        failures = await cpu_mix._drive(app, measured, tokens)
        after, elapsed = _thread_cpu(), time.process_time() - started
        if failures:
            raise SystemExit(f"{failures} measured requests were not 2xx")
        per = 1e6 / len(measured)
        threads = {
            kind: {
                "user": (user - before.get(kind, (0.0, 0.0))[0]) * per,
                "sys": (system - before.get(kind, (0.0, 0.0))[1]) * per,
            }
            for kind, (user, system) in after.items()
        }
        return {"us": elapsed * per, "threads": threads}

    cpu_mix._timed = timed  # type: ignore[assignment]
    cpu_mix.child(src, requests, [])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument(
        "--src", default=str(BENCH.parent / "backend" / "src"), help="a backend/src or a revision"
    )
    parser.add_argument("--raw", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.src, args.requests)
        return
    raw = args.raw or Path(tempfile.mkdtemp(prefix="mix-profile-")) / "raw.txt"
    if not Path(args.src).is_dir():  # a revision, extracted as bench/compare.py does
        from compare import extract

        args.src = str(extract(args.src)[1])
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    command = [sys.executable, __file__, "--child", "--src", args.src,
               "--requests", str(args.requests)]  # fmt: skip
    out = subprocess.run(
        [py_spy, "record", "--gil", "--nonblocking", "--rate", "997", "--threads",
         "--format", "raw", "--output", str(raw), "--", *command],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result = json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])
    print(f"CPU per request under the sampler: {result['us']:.0f} µs (samples: {raw})")
    for kind, figures in result["threads"].items():
        print(f"  {kind}: user {figures['user']:.0f} µs, system {figures['sys']:.0f} µs")
    print("| thread | layer | µs / request |")
    print("|---|---|---|")
    for kind, name, cost in summarise(raw, result["threads"]):
        if cost >= 0.5:
            print(f"| {kind} | {name} | {cost:.0f} |")


if __name__ == "__main__":
    main()
