"""server.py without sockets: the uvicorn configuration `todo-api serve` runs, from Settings, and
the bounds of the settings behind it (the behaviour itself: security/test_hostile_clients.py
and operations/test_shutdown.py)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys

import pytest
import uvicorn
from uvicorn.server import ServerState

from todo_api.middleware.request_id import InFlight
from todo_api.server import (
    HARD_EXIT_MARGIN_SECONDS,
    GuardedHttpToolsProtocol,
    HardExit,
    Server,
    make_server,
)
from todo_api.settings import load_settings

pytestmark = pytest.mark.unit

GOOD = "a-perfectly-good-development-secret-0123456789"


async def _app(scope: object, receive: object, send: object) -> None:
    raise AssertionError("not called")


def test_serve_runs_the_guarded_protocol_with_the_settings() -> None:
    settings = load_settings(
        _env_file=None,
        BETTER_AUTH_SECRET=GOOD,
        MAX_HEADER_BYTES="8192",
        HEADER_TIMEOUT_SECONDS="2.5",
        BODY_TIMEOUT_SECONDS="7",
        SHUTDOWN_GRACE_SECONDS="4",
        KEEP_ALIVE_SECONDS="9",
    )
    server = make_server(_app, settings, "127.0.0.1", 8000)
    assert isinstance(server, Server)
    config = server.config
    assert isinstance(config.http, type)
    assert issubclass(config.http, GuardedHttpToolsProtocol)
    limits = config.http.limits
    assert (limits.max_header_bytes, limits.header_timeout, limits.body_timeout) == (8192, 2.5, 7)
    assert config.timeout_graceful_shutdown == 4
    assert config.timeout_keep_alive == 9
    assert b"exceed 8192 bytes" in config.http.too_large
    assert config.http.timed_out.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert config.http.cancelled.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"\r\nretry-after: 2\r\n" in config.http.cancelled  # every 503 says when to retry


def test_the_protocol_class_itself_carries_the_defaults() -> None:
    """For `uvicorn --http todo_api.server:GuardedHttpToolsProtocol` (docs/hostile-clients.md)."""
    assert GuardedHttpToolsProtocol.limits.max_header_bytes == 16384
    assert b"exceed 16384 bytes" in GuardedHttpToolsProtocol.too_large


class _ArmOnly(HardExit):
    """Records its arming and never ends the process (this one runs the tests)."""

    def __init__(self) -> None:
        self.armed: list[float] = []

    def arm(self, seconds: float) -> None:
        self.armed.append(seconds)


def test_the_hard_exit_is_armed_by_the_signal_itself_not_later_by_the_shutdown() -> None:
    settings = load_settings(_env_file=None, BETTER_AUTH_SECRET=GOOD, SHUTDOWN_GRACE_SECONDS="4")
    server = make_server(_app, settings, "127.0.0.1", 8000)
    server.hard_exit = hard_exit = _ArmOnly()

    server.handle_exit(signal.SIGTERM, None)

    assert hard_exit.armed == [4 + HARD_EXIT_MARGIN_SECONDS]
    assert server.should_exit


def test_the_hard_exit_deadline_is_the_first_arming() -> None:
    hard_exit = HardExit()  # never started: this process runs the tests
    assert hard_exit.deadline is None
    hard_exit.arm(10)
    first = hard_exit.deadline
    hard_exit.arm(1)
    assert hard_exit.deadline == first


HARD_EXIT = """
import asyncio, time
from todo_api.logs import configure_logging, log_access
from todo_api.server import HardExit

configure_logging("INFO")

async def main() -> None:
    log_access({"request_id": "last"})  # queued for the loop's next iteration, which never comes
    hard_exit = HardExit()
    hard_exit.start()
    hard_exit.arm(0)
    time.sleep(30)  # a loop that never gets back to its callbacks

asyncio.run(main())
"""


def test_the_hard_exit_writes_the_queued_log_lines_before_its_notice() -> None:
    result = subprocess.run(
        [sys.executable, "-c", HARD_EXIT], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    line, notice = result.stderr.splitlines()
    assert json.loads(line)["request_id"] == "last"
    assert notice.startswith("todo-api: shutdown did not finish within the grace period")


@pytest.mark.anyio
async def test_the_protocol_names_the_servers_request_tasks_for_the_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uvicorn adds a request's task to this set when it makes it, before the task first runs:
    requests that arrived together are all in flight for the database (InFlight.alone), not
    only the ones already counted by the middleware (db/test_transactions.py)."""
    monkeypatch.setattr(InFlight, "server_tasks", ())
    config = uvicorn.Config(_app, http=GuardedHttpToolsProtocol)
    config.load()
    state = ServerState()
    GuardedHttpToolsProtocol(config=config, server_state=state, app_state={})
    assert InFlight.server_tasks is state.tasks
    in_flight = InFlight()
    in_flight.count = 1
    assert in_flight.alone()
    state.tasks.update({asyncio.Future(), asyncio.Future()})  # two started, one counted
    assert not in_flight.alone()
