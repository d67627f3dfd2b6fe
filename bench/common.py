"""Shared pieces of the benchmark: settings, bulk seeding, tokens, percentiles, a server process."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from sqlalchemy import create_engine, insert, select

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
# The test suite's secret: tokens are minted with it, the server is configured with it.
SECRET = "test-secret-for-the-tasks-api-0123456789abcdef"
# The in-process sections (auth overhead, scaling) send thousands of requests a minute as one
# user, which the per-user budgets refuse by design (429 after 600); they measure authentication
# and storage, so the budgets are off there. §5b measures what the limits cost.
IN_PROCESS_LIMITS = {"RATE_LIMIT": "off", "RATE_LIMIT_WRITES": "off"}
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
SERVER_CPU = os.environ.get("BENCH_SERVER_CPU", "0")
CLIENT_CPU = os.environ.get("BENCH_CLIENT_CPU", "1")


def work_dir() -> Path:
    path = Path(os.environ.get("BENCH_WORK", "/tmp/todo-api-bench"))  # noqa: S108
    path.mkdir(parents=True, exist_ok=True)
    return path


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def mint(sub: str, ttl: int = 6 * 3600, **claims: object) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + ttl, **claims}, SECRET, "HS256")


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def seed_tasks(
    url: str,
    owners: Mapping[str, int],
    *,
    filler_rows: int = 0,
    chunk: int = 50_000,
    fresh: bool = True,
) -> dict[str, list[int]]:
    """Bulk-insert `owners[name]` tasks per owner, interleaved with `filler_rows` of other owners.

    Goes through SQLAlchemy Core with the app's own table (so column types and formats are the
    app's), in executemany chunks. Returns each listed owner's task ids. SQLite: a new file (unless
    not `fresh`), migrated here. PostgreSQL: `url` is a superuser, whom Row-Level Security lets
    write every owner's rows, on a database the owner role has already migrated (migrating as the
    superuser would make it the table's owner).
    """
    from todo_api.db.lifecycle import upgrade
    from todo_api.tasks import store
    from todo_api.tasks.store import TaskRow

    # A revision before migration 0005 (cpu_mix and compare run old ones) has one global id
    # sequence: no number, no counter.
    numbered = hasattr(store, "TaskCounterRow")

    sqlite = url.startswith("sqlite:///")
    if fresh and sqlite:
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    engine = create_engine(url)
    if sqlite:
        upgrade(engine)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    # Round robin over the owners, spread evenly through the table: none sits at the end.
    slots = [owner for k in range(max(owners.values())) for owner, n in owners.items() if n > k]
    total = len(slots) + filler_rows
    step = total / len(slots)
    marks = {int(i * step) for i in range(len(slots))}
    owner_cycle = 0
    filler_owner = 0
    numbers: dict[str, int] = {}  # each owner's last task number, as the app counts them
    rows: list[dict[str, object]] = []
    with engine.begin() as connection:
        if sqlite:
            connection.exec_driver_sql("PRAGMA synchronous=OFF")
        for position in range(total):
            if position in marks:
                owner = slots[owner_cycle]
                owner_cycle += 1
            else:
                owner = f"filler-{filler_owner % 50_000}"
                filler_owner += 1
            stamp = start + timedelta(seconds=position)
            numbers[owner] = numbers.get(owner, 0) + 1
            rows.append(
                {
                    "owner_id": owner,
                    **({"number": numbers[owner]} if numbered else {}),
                    "title": f"task {position}",
                    "description": None if position % 3 else "some words about the task",
                    "completed": position % 4 == 0,
                    # For the sorted and filtered lists: a third without a due date, ties.
                    "due_at": None if position % 3 == 1 else start + timedelta(days=position % 97),
                    "priority": ("low", "normal", "high")[position % 5 % 3],
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            )
            if len(rows) >= chunk:
                connection.execute(insert(TaskRow), rows)
                rows = []
        if rows:
            connection.execute(insert(TaskRow), rows)
        if numbered:
            connection.execute(
                insert(store.TaskCounterRow),
                [{"owner_id": owner, "last_number": last} for owner, last in numbers.items()],
            )
        ids: dict[str, list[int]] = {owner: [] for owner in owners}
        api_id = TaskRow.number if numbered else TaskRow.id
        mine = select(TaskRow.owner_id, api_id).order_by(TaskRow.id)
        if len(owners) <= 2:  # the index serves a few owners; many are one pass over the table
            mine = mine.where(TaskRow.owner_id.in_(owners))
        for owner, task_id in connection.execute(mine):
            if owner in ids:
                ids[owner].append(task_id)
    engine.dispose()
    return ids


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (the uvicorn workers), in seconds.

    On a shared machine, CPU time per request moves far less than requests per second: other
    jobs delay the server (fewer requests in the same wall time) more than they slow its work.
    """
    total = 0
    for candidate in [pid, *_children(pid)]:
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{candidate}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    """Resident set size of a process and its children (the uvicorn workers), in KiB."""
    total = 0
    for candidate in [pid, *_children(pid)]:
        with contextlib.suppress(FileNotFoundError):
            for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(FileNotFoundError):
            for child in (task / "children").read_text().split():
                found += [int(child), *_children(int(child))]
    return found


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


@contextlib.contextmanager
def running_server(
    db_url: str,
    *,
    workers: int = 1,
    loop: str = "product",
    http: str = "guarded",
    token_cache: bool = True,
    gc_tuned: bool = True,
    cpus: str = SERVER_CPU,
    log: Path | None = None,
    source: Path | None = None,
    sqlite_synchronous: str = "",
    settings: Mapping[str, str] | None = None,
    script: str = "server.py",
) -> Iterator[Server]:
    """uvicorn on loopback, pinned to `cpus` with taskset, started through bench/server.py.

    `source`: another checkout's `backend/src`, imported instead of the installed package.
    `settings`: more environment for the app (DB_POOL_SIZE=...).
    `script`: `floor.py` serves the framework-free floor instead of the product (SQLite only).
    """
    port = free_port()
    log = log or work_dir() / f"server-{port}.log"
    env = {
        **os.environ,
        "BETTER_AUTH_SECRET": SECRET,
        "DATABASE_URL": db_url,
        "LOG_LEVEL": "INFO",
        "BENCH_TOKEN_CACHE": "1" if token_cache else "0",
        "BENCH_GC_TUNED": "1" if gc_tuned else "0",
        "BENCH_SQLITE_SYNCHRONOUS": sqlite_synchronous,
        "PYTHONPATH": os.pathsep.join([*([str(source)] if source else []), str(BENCH)]),
        **(settings or {}),
    }
    command = [
        "taskset",
        "-c",
        cpus,
        sys.executable,
        str(BENCH / script),
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        loop,
        "--http",
        http,
    ]
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            command, cwd=work_dir(), env=env, stdout=stderr, stderr=stderr, start_new_session=True
        )
    server = Server(process, f"http://127.0.0.1:{port}", port, log)
    try:
        _wait_ready(server)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _wait_ready(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early; see {server.log}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", server.port), timeout=1) as sock,
        ):
            sock.sendall(b"GET /readyz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            if sock.recv(64).startswith(b"HTTP/1.1 200"):
                return
        time.sleep(0.2)
    raise RuntimeError(f"server not ready after {timeout} s; see {server.log}")
