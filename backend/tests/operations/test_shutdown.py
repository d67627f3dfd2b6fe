"""SIGTERM to a real `todo-api serve` under load always ends (issue 19, server.py): requests that
finish within SHUTDOWN_GRACE_SECONDS are answered and committed, a client that never finishes its
body cannot hold the process, a transaction still running at the deadline is rolled back, and the
process is gone within the grace period and a second whatever a client or the database does.

Bounds are generous (grace + 3 s): the machine may be loaded, and timers never fire early. One
test holds the documented bound itself (SHUTDOWN_GRACE_SECONDS + HARD_EXIT_MARGIN_SECONDS from
the signal, docs/hostile-clients.md), with requests stuck on a stalled database: the server's
clock counts it, so only the signal's delivery and the reaping of the process are slack.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from fixtures.api import DATABASES, mint
from fixtures.live_server import Server, running_server
from todo_api.server import HARD_EXIT_MARGIN_SECONDS

pytestmark = [pytest.mark.server, pytest.mark.anyio]

GRACE = 3
SLACK = 3.0
WRITERS = 30


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """The server's DATABASE_URL, and an engine that sees every row (for the checks)."""
    if request.param == "postgresql":
        postgres = request.getfixturevalue("postgres")
        engine = postgres.admin_engine()  # a superuser: Row-Level Security does not hide rows
        yield postgres.app_url, engine
    else:
        url = f"sqlite:///{tmp_path}/served.db"
        engine = create_engine(url, poolclass=NullPool)
        yield url, engine
    engine.dispose()


def _stored_ids(engine: Engine) -> set[int]:
    with engine.connect() as connection:
        return {row[0] for row in connection.execute(text("SELECT id FROM tasks"))}


def _auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(user, ttl=600)}"}


def _stall_half_a_body(server: Server) -> socket.socket:
    """A client that sends its head and half its body, then nothing."""
    port = int(server.base.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=GRACE + SLACK + 5)
    token = mint("staller", ttl=600)
    sock.sendall(
        b"POST /api/staller/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\nContent-Length: 100\r\n\r\n"
        b'{"title": "half'
    )
    return sock


def _read_to_close(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    sock.close()
    return data


async def _terminate(server: Server) -> tuple[int, float]:
    """SIGTERM; the exit code and the seconds the process took to end."""
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(server.process.wait, GRACE + SLACK + 10)
    return code, time.monotonic() - started


async def test_sigterm_under_load_keeps_every_acknowledged_write_and_ends_in_time(
    tmp_path: Path, database: tuple[str, Engine]
) -> None:
    url, engine = database
    # The body deadline is longer than the grace period: the shutdown, not it, must end the staller.
    settings = {"SHUTDOWN_GRACE_SECONDS": str(GRACE), "BODY_TIMEOUT_SECONDS": "60"}
    with running_server(tmp_path / "server", url, settings) as server:
        staller = _stall_half_a_body(server)
        acknowledged: list[int] = []
        statuses: list[int] = []
        going = asyncio.Event()  # as many writes acknowledged as there are writers
        limits = httpx.Limits(max_connections=WRITERS)
        async with httpx.AsyncClient(base_url=server.base, timeout=30, limits=limits) as http:

            async def write(n: int) -> None:
                user = f"writer-{n:02d}"
                for i in range(10_000):
                    try:
                        answer = await http.post(
                            f"/api/{user}/tasks", json={"title": f"{n}:{i}"}, headers=_auth(user)
                        )
                    except httpx.TransportError:
                        return  # the server stopped accepting or closed a kept-alive connection
                    statuses.append(answer.status_code)
                    if answer.status_code != 201:
                        return
                    acknowledged.append(answer.json()["id"])
                    if len(acknowledged) >= WRITERS:
                        going.set()

            writers = [asyncio.create_task(write(n)) for n in range(WRITERS)]
            # Waited for, not a fixed second: a loaded machine may take longer to get there.
            try:
                await asyncio.wait_for(going.wait(), timeout=30)
            except TimeoutError:
                pytest.fail(f"the writers did not get going: {len(acknowledged)} writes in 30 s")
            code, took = await _terminate(server)
            await asyncio.gather(*writers)
        stalled = await asyncio.to_thread(_read_to_close, staller)

    assert took < GRACE + SLACK
    assert code == -signal.SIGTERM  # uvicorn's own exit, not the hard one
    assert set(statuses) == {201}, sorted(set(statuses))
    assert set(acknowledged) <= _stored_ids(engine)
    # The staller was answered before the grace period ran out, not cancelled with a 500.
    assert stalled.startswith(b"HTTP/1.1 408 "), stalled[:80]


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    path = tmp_path / "served.db"
    settings = {"SHUTDOWN_GRACE_SECONDS": "1"}
    with running_server(tmp_path / "server", f"sqlite:///{path}", settings) as server:
        yield server, path


def _lock(path: Path) -> sqlite3.Connection:
    """SQLite's write lock, taken from outside: the server's next write waits (busy_timeout)."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


async def _post_stuck(server: Server) -> asyncio.Task[httpx.Response]:
    async def post() -> httpx.Response:
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
            return await http.post(
                "/api/alice/tasks", json={"title": "stuck"}, headers=_auth("alice")
            )

    task = asyncio.create_task(post())
    await asyncio.sleep(0.5)  # the request is on a database thread, waiting for the lock
    return task


def _titles(path: Path) -> list[str]:
    with sqlite3.connect(path) as connection:
        return [row[0] for row in connection.execute("SELECT title FROM tasks")]


async def test_transaction_cancelled_at_the_deadline_is_rolled_back_and_answered_503(
    sqlite_server: tuple[Server, Path],
) -> None:
    server, path = sqlite_server
    holder = _lock(path)
    stuck = await _post_stuck(server)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    answer = await stuck  # at the deadline: the request is cancelled while its thread still waits
    holder.execute("ROLLBACK")  # now the thread gets the lock, inserts, and must not commit
    holder.close()
    await asyncio.to_thread(server.process.wait, 1 + SLACK + 10)

    assert time.monotonic() - started < 1 + SLACK
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert "nothing was written" in answer.json()["detail"]
    assert "stuck" not in _titles(path)
    assert "Traceback" not in server.log.read_text()


async def test_process_exits_soon_after_the_grace_period_even_with_a_database_thread_stuck(
    sqlite_server: tuple[Server, Path],
) -> None:
    server, path = sqlite_server
    holder = _lock(path)  # held until the process is gone: its database thread never finishes
    try:
        stuck = await _post_stuck(server)
        code, took = await _terminate(server)
        answer = await stuck
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert took < 1 + SLACK
    assert code == 1  # the hard exit: uvicorn alone would wait for the thread (busy_timeout 15 s)
    assert answer.status_code == 503
    assert "stuck" not in _titles(path)
    assert "exiting now" in server.log.read_text()


STALLED_GRACE = 2
STUCK = 4
# The bound is counted from the signal by the server's own clock; the test's clock also counts
# the signal's delivery and the kernel reaping the process.
SCHEDULING_SLACK = 0.25


@contextmanager
def _stalled(url: str, engine: Engine) -> Iterator[Callable[[], None]]:
    """The database stalls every write until released: SQLite's write lock, or an ACCESS
    EXCLUSIVE lock on the tasks table held by a superuser's open transaction."""
    if url.startswith("sqlite"):
        holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        yield holder.close  # closing rolls back
        holder.close()
    else:
        connection = engine.connect()
        transaction = connection.begin()
        connection.execute(text("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE"))

        def release() -> None:
            if transaction.is_active:
                transaction.rollback()
            connection.close()

        yield release
        release()


def _cancelled_lines(log: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [line for line in lines if line["msg"] == "request cancelled at shutdown"]


async def test_requests_stuck_on_a_stalled_database_end_within_the_bound_one_line_each(
    tmp_path: Path, database: tuple[str, Engine]
) -> None:
    url, engine = database
    settings = {"SHUTDOWN_GRACE_SECONDS": str(STALLED_GRACE)}
    with running_server(tmp_path / "server", url, settings) as server:
        with _stalled(url, engine) as release:
            async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:

                async def post(n: int) -> httpx.Response | None:
                    user = f"stuck-{n}"
                    try:
                        return await http.post(
                            f"/api/{user}/tasks", json={"title": "stuck"}, headers=_auth(user)
                        )
                    except httpx.TransportError:
                        return None  # the connection closed: as good as a 503

                stuck = [asyncio.create_task(post(n)) for n in range(STUCK)]
                await asyncio.sleep(1.0)  # every request is waiting on the database
                assert not any(task.done() for task in stuck)
                started = time.monotonic()
                server.process.send_signal(signal.SIGTERM)
                code = await asyncio.wait_for(asyncio.to_thread(server.process.wait), 30)
                took = time.monotonic() - started
                answers = await asyncio.gather(*stuck)
            release()
        log = server.log.read_text()

    assert STALLED_GRACE <= took <= STALLED_GRACE + HARD_EXIT_MARGIN_SECONDS + SCHEDULING_SLACK
    assert code == 1  # the database threads never returned: the process ended them
    assert "Traceback" not in log
    assert "CancelledError" not in log
    lines = _cancelled_lines(log)
    assert len(lines) == STUCK, log
    assert {(line["method"], line["path"]) for line in lines} == {("POST", "/api/{user_id}/tasks")}
    assert all(isinstance(line["duration_ms"], float) for line in lines)
    for answer in answers:
        if answer is not None:
            assert answer.status_code == 503
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.headers["x-request-id"] in {line["request_id"] for line in lines}
    with engine.connect() as connection:
        titles = connection.execute(text("SELECT title FROM tasks")).scalars().all()
    assert "stuck" not in titles
