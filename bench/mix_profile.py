"""Where a request's CPU goes, layer by layer: the mix of bench/cpu_mix.py in process, sampled.

    PYTHONPATH=bench:backend/tests .venv/bin/python bench/mix_profile.py [--requests 20000]
        [--src backend/src|REVISION|floor] [--floor] [--raw FOLDER]

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


def _floor_lines(*texts: str) -> tuple[str, ...]:
    """Needles for the lines of bench/floor.py that contain one of `texts` (its JSON encoding
    sits on lines of functions that also run statements: a line, not a function, tells them)."""
    lines = (BENCH / "floor.py").read_text().splitlines()
    return tuple(
        f"(floor.py:{number})"
        for number, line in enumerate(lines, 1)
        if any(text in line for text in texts)
    )


CLIENT = "event loop: callbacks, wake-ups, the bench's client"
# (layer, needles): a frame whose text contains a needle belongs to the layer. Outermost first;
# the innermost match wins (on one frame, the later layer). The floor's functions (bench/floor.py)
# go to the layer of the product that does the same work, so that the two profiles line up.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (CLIENT, ("timed (", "_thread_cpu", "_drive (", "asgi.py")),
    (
        "Starlette/FastAPI outer stack (500 handler, exception telemetry, app body limit)",
        (
            "FastAPI.__call__",
            "Starlette.__call__",
            "ServerErrorMiddleware",
            "ExceptionTelemetryMiddleware",
            "fastapi/_body_limit",
            "Floor.__call__ (",  # the floor's ASGI reply: its two messages
        ),
    ),
    (
        "FastAPI telemetry check (OpenTelemetry providers configured?)",
        ("NativeTelemetry", "fastapi/telemetry/_api.py"),
    ),
    ("request id + hardening headers", ("todo_api/middleware/request_id.py", "InFlight")),
    (
        "access line (fields, JSON, sink)",
        ("log_request", "path_template", "todo_api/logs.py", "todo_api/log_lines.py"),
    ),
    ("cancellation middleware", ("todo_api/middleware/cancellation.py",)),
    ("CORS middleware (simple response)", ("CORSMiddleware", "todo_api/middleware/cors.py")),
    (
        "authentication (token cache, identity, Server-Timing)",
        ("todo_api/auth/", "Floor._subject"),
    ),
    ("per-user rate limits (counters, headers)", ("todo_api/ratelimit/",)),
    ("HEAD middleware", ("todo_api/middleware/head.py",)),
    ("body limit middleware", ("todo_api/middleware/body_limit.py",)),
    (
        "FastAPI/Starlette routing (exception middleware, exit stacks, route matching)",
        (
            "ExceptionMiddleware",
            "_exception_handler",
            "AsyncExitStack",
            "starlette/routing.py",
            "fastapi/routing.py",
            "Floor._handle",  # the floor's routing: the path split, the method tested
        ),
    ),
    ("request-shape checks (routing.py)", ("todo_api/routing.py",)),
    (
        "planned handler: sub-response, reply",
        ("todo_api/tasks/planned.py", "starlette/responses.py"),
    ),
    (
        "planned parameter validation",
        ("_validated (", "_json (floor.py", "_title (floor.py", "_task_id (floor.py"),
    ),
    ("dependencies: path owner, state", ("_solve (", "path_owner", "todo_api/state.py")),
    (
        "routes, service",
        ("todo_api/tasks/routes.py", "todo_api/tasks/service.py", "todo_api/tasks/listing.py"),
    ),
    ("hand-off to a database thread (loop side)", ("Threads.call", "_settle", "run_in_executor")),
    (
        "transaction: Database.run, begin/commit, the 503/507 mapping",
        ("todo_api/db/", "sqlalchemy/engine/", "sqlalchemy/pool/", "Floor._write"),
    ),
    # The database threads.
    (
        "hand-off (thread side: wake, answer)",
        ("Threads._serve", "_outcome", "call_soon_threadsafe", "concurrent/futures/"),
    ),
    (
        "store: statements and parameters",
        (
            "todo_api/tasks/store.py",
            "todo_api/db/driver.py",
            "bind_processor",
            "process_bind_param",
            "Floor._list",
            "Floor._read_one",
            "Floor._write.<locals>.work",
            "_now (floor.py",
        ),
    ),
    (
        "pydantic validation (rows -> Task; the reply's model)",
        ("validate_python", "model_validate", "_task (floor.py", "_stamp (floor.py"),
    ),
    # Last: on the floor's lines that encode, it wins over the statements' function.
    ("response JSON (pydantic dump)", ("dump_json (", *_floor_lines("to_json("))),
)


def _executor_wake() -> str:
    """The frame of `ThreadPoolExecutor.submit` whose line puts the job on the queue."""
    import concurrent.futures.thread as module
    import inspect

    lines, first = inspect.getsourcelines(module.ThreadPoolExecutor.submit)
    number = next(first + i for i, line in enumerate(lines) if "_work_queue.put(" in line)
    return f"ThreadPoolExecutor.submit (concurrent/futures/thread.py:{number})"


# A sample whose innermost frame is the loop waking a database thread is the sampler's
# misreading, not CPU: the lock's release measured alone with thread_time costs a few µs
# (research P26). The floor's executor wakes its thread by a queue's put: the same misreading.
ARTEFACTS = ("Threads.call (", _executor_wake())
# What a sample must hold to count: the measured requests (and their warm-up), or a database
# thread's job (the product's threads, the floor's executor).
COUNTED = ("timed (", "Threads._serve", "_WorkItem.run")


def layer(stack: list[str]) -> str | None:
    if not any(needle in frame for frame in stack for needle in COUNTED):
        return None  # seeding, start-up, warm-up's setup
    found = "other"
    for frame in stack[1:]:
        for name, needles in LAYERS:
            if any(needle in frame for needle in needles):
                found = name
    return found


def kind_of(name: str) -> str:
    """A thread's name as its kind: the loop (MainThread), a database thread (the product's db-N
    and db-writer-N, the floor's writer_N), or its own name."""
    if name == "MainThread":
        return "loop"
    if name.startswith(("db-writer", "writer_")):
        return "writer"
    return "db" if name.startswith("db") else name


def thread_kind(header: str) -> str:
    """py-spy's "thread (TID): NAME" as the thread's kind (`kind_of`)."""
    return kind_of(header.partition(": ")[2])


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
        kind = kind_of(thread.name)
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


def profile(
    src: str, requests: int, raw: Path
) -> tuple[float, dict[str, dict[str, float]], dict[tuple[str, str], float]]:
    """One sampled child: CPU µs per request, each thread kind's user and system µs, and µs per
    request by (thread kind, layer)."""
    if src != "floor" and not Path(src).is_dir():  # a revision, as bench/compare.py does
        from compare import extract

        src = str(extract(src)[1])
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    command = [sys.executable, __file__, "--child", "--src", src, "--requests", str(requests)]
    out = subprocess.run(
        [py_spy, "record", "--gil", "--nonblocking", "--rate", "997", "--threads",
         "--format", "raw", "--output", str(raw), "--", *command],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result = json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])
    costs: dict[tuple[str, str], float] = collections.defaultdict(float)
    for kind, name, cost in summarise(raw, result["threads"]):
        costs[kind, name] += cost
    return result["us"], result["threads"], costs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument(
        "--src",
        default=str(BENCH.parent / "backend" / "src"),
        help="a backend/src, a revision, or floor",
    )
    parser.add_argument("--floor", action="store_true", help="also profile the floor, side by side")
    parser.add_argument("--raw", type=Path, help="a folder for py-spy's samples")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.src, args.requests)
        return
    folder = args.raw or Path(tempfile.mkdtemp(prefix="mix-profile-"))
    folder.mkdir(parents=True, exist_ok=True)
    runs = {"product" if args.src != "floor" else "floor": args.src}
    if args.floor:
        runs["floor"] = "floor"
    profiles = {}
    for name, src in runs.items():
        raw = folder / f"{name}.txt"
        us, threads, _ = profiles[name] = profile(src, args.requests, raw)
        print(f"{name}: CPU per request under the sampler: {us:.0f} µs (samples: {raw})")
        for kind, figures in threads.items():
            print(f"  {kind}: user {figures['user']:.0f} µs, system {figures['sys']:.0f} µs")
    keys = sorted(
        {key for _, _, costs in profiles.values() for key in costs},
        key=lambda key: -max(costs.get(key, 0.0) for _, _, costs in profiles.values()),
    )
    print("| thread | layer | " + " | ".join(f"{name} µs" for name in profiles) + " |")
    print("|---|---|" + "---|" * len(profiles))
    for kind, layer_name in keys:
        row = [costs.get((kind, layer_name), 0.0) for _, _, costs in profiles.values()]
        if max(row) >= 0.5:
            shown = " | ".join(f"{cost:.0f}" for cost in row)
            print(f"| {kind} | {layer_name} | {shown} |")
    totals = " | ".join(f"{us:.0f}" for us, _, _ in profiles.values())
    print(f"| all | CPU per request (process) | {totals} |")


if __name__ == "__main__":
    main()
