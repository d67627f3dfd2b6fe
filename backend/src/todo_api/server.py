"""The HTTP server process: uvicorn built from Settings, with bounded request heads, bounded read
times, and a shutdown that always ends (research.md, "Request-head limits and read deadlines").

uvicorn reads a request head of any size (httptools has no limit) and arms no timer until a first
response is complete, so a client that sends a giant head, or a few bytes and then nothing, holds a
connection and its memory for as long as it likes. `GuardedHttpToolsProtocol` is uvicorn's
httptools protocol with three limits added; everything else is uvicorn's own code path.

    head   from the connection (or the first byte of the next request) to the end of the headers:
           at most MAX_HEADER_BYTES, within HEADER_TIMEOUT_SECONDS, else 431 / 408 and close
    body   from the end of the headers to the end of the body: within BODY_TIMEOUT_SECONDS,
           else 408 and close (a short Content-Length or a lying chunk size ends here)
    idle   between requests: uvicorn's keep-alive timeout (KEEP_ALIVE_SECONDS, 5 s)

It overrides parser callbacks that are not uvicorn's public API: uvicorn is pinned to one minor
version in pyproject.toml, and security/test_hostile_clients.py exercises each limit.
"""

from __future__ import annotations

import asyncio
import enum
import http
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any, ClassVar

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from todo_api.errors import (
    ApiError,
    HeadersTooLarge,
    InvalidHttpRequest,
    RequestTimeout,
    ServiceUnavailable,
    problem_response,
)
from todo_api.logs import flush_logs
from todo_api.middleware.cancellation import CANCELLED_DETAIL
from todo_api.middleware.request_id import InFlight, new_request_id
from todo_api.settings import ServerSettings, Settings

log = logging.getLogger("todo_api.server")

# Past the grace period, uvicorn cancels the requests still running (each answers 503) and runs the
# lifespan's shutdown; if the process is still alive this long after the grace period ends, counted
# from the signal, it exits at once: SHUTDOWN_GRACE_SECONDS + 0.8 s is the bound on a shutdown.
HARD_EXIT_MARGIN_SECONDS = 0.8
# How long the hard exit waits for its one-line notice to be written.
EXIT_NOTICE_SECONDS = 0.05
# A client still sending its body at shutdown gets its 408 this long before the grace period ends,
# so that its request ends by itself instead of being cancelled (uvicorn would answer 500).
SHUTDOWN_BODY_MARGIN_SECONDS = 1.0


@dataclass(frozen=True)
class ConnectionLimits:
    """What one connection may take: MAX_HEADER_BYTES, HEADER_TIMEOUT_SECONDS,
    BODY_TIMEOUT_SECONDS, and the shutdown grace period (SHUTDOWN_GRACE_SECONDS)."""

    max_header_bytes: int = 16 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    shutdown_grace: float = 10.0

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> ConnectionLimits:
        return cls(
            max_header_bytes=settings.max_header_bytes,
            header_timeout=settings.header_timeout_seconds,
            body_timeout=settings.body_timeout_seconds,
            shutdown_grace=settings.shutdown_grace_seconds,
        )


class _Phase(enum.Enum):
    HEAD = "head"  # the next bytes are (the rest of) a request line and headers
    BODY = "body"  # headers complete, body not yet


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop httptools mid-head."""


def _raw_problem(error: ApiError) -> bytes:
    """The problem+json answer as bytes on the wire, with `connection: close`: these answers are
    written by the protocol, before (or instead of) the application seeing the request."""
    response = problem_response(error)
    phrase = http.HTTPStatus(error.status).phrase
    head = [f"HTTP/1.1 {error.status} {phrase}\r\n".encode()]
    head += [name + b": " + value + b"\r\n" for name, value in response.raw_headers]
    head.append(b"connection: close\r\n\r\n")
    return b"".join(head) + bytes(response.body)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request head and bounded read times."""

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()
    # The answers, built once per class (below, and in guarded_protocol).
    too_large: ClassVar[bytes]
    timed_out: ClassVar[bytes]
    cancelled: ClassVar[bytes]
    bad_request: ClassVar[bytes]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase = _Phase.HEAD
        self._head_bytes = 0  # of the current head, as received (raw, before parsing)
        self._timer: asyncio.TimerHandle | None = None
        # uvicorn's set of request tasks (one per server, shared by its connections), each task
        # added when it is made, before it first runs: what the database reads to tell a request
        # alone in flight from one of many (middleware/request_id.py's InFlight).
        InFlight.server_tasks = self.tasks

    # Connection events

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that never sends a byte is closed by this, not by keep-alive (never armed).
        self._arm(self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's data_received, with the head counted before parsing: httptools keeps a header
        # value in memory until it is complete, so a limit checked only in `on_header` would let
        # one endless header grow without bound.
        self._unset_keepalive_if_required()
        if self._phase is not _Phase.BODY:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self._refuse(self.too_large, "request head too large")
                return
            # uvicorn answers a text/plain 400 here; ours is the same status as problem+json.
            self._refuse(self.bad_request, "invalid HTTP request")
            return
        # Timers are armed here, after the read, rather than in the parser callbacks: most heads
        # and bodies arrive whole in one read and need no timer at all.
        if self._phase is _Phase.HEAD:
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(self.too_large, "request head too large")
            elif self._timer is None and self._head_bytes:
                # Bytes of the next request's head on a kept-alive connection (or only the blank
                # lines a parser skips, which would otherwise hold it: keep-alive was cancelled).
                self._arm(self.limits.header_timeout)
        elif self._phase is _Phase.BODY and self._timer is None:
            self._arm(self.limits.body_timeout)

    def shutdown(self) -> None:
        super().shutdown()
        if self.cycle is not None and not self.cycle.response_complete:
            # Past the grace period uvicorn cancels this request. The application answers 503
            # (CancelledRequestMiddleware); one without it would reach uvicorn's 500 instead,
            # while its transaction is rolled back (Database.run): the true answer is 503.
            self.cycle.send_500_response = self._answer_cancelled  # type: ignore[method-assign]
        if self._phase is _Phase.BODY and self._timer is not None:
            # uvicorn waits for this request until the grace period ends, then cancels it (500).
            # A client still sending gets its 408 in time instead.
            cap = max(0.0, self.limits.shutdown_grace - SHUTDOWN_BODY_MARGIN_SECONDS)
            if self._timer.when() - self.loop.time() > cap:
                self._disarm()
                self._arm(cap)

    async def _answer_cancelled(self) -> None:
        self._refuse(self.cancelled, "request cancelled at shutdown")

    # Parser callbacks

    def on_headers_complete(self) -> None:
        # A head that arrived whole within one read is measured here, before the app sees it.
        size = len(self.url)
        for name, value in self.headers:
            size += len(name) + len(value) + 4  # ": " and CRLF
        if size > self.limits.max_header_bytes:
            raise _HeadTooLarge  # stops the parser; data_received answers 431
        self._disarm()
        self._phase = _Phase.BODY
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._phase = _Phase.HEAD  # whatever comes next begins the next request
        super().on_message_complete()

    # The limits

    def _arm(self, delay: float) -> None:
        self._timer = self.loop.call_later(delay, self._deadline_passed)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _deadline_passed(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._phase is _Phase.BODY:
            # Once the answer has begun there is no second one to give, only the connection to end.
            answered = self.cycle is not None and self.cycle.response_started
            self._refuse(b"" if answered else self.timed_out, "request body not received in time")
        elif self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head that waits because we paused reading: our delay, not the client's.
            self._arm(self.limits.header_timeout)
        elif self._head_bytes == 0:
            self._refuse(b"", "idle connection")  # nothing sent: nothing to answer
        else:
            self._refuse(self.timed_out, "request head not received in time")

    def _refuse(self, answer: bytes, reason: str) -> None:
        """Answer (unless `answer` is empty), close, and let a running request see a disconnect.

        The answer gets a request id of its own, as every response does, and the log line says
        it: the application never saw this request, so nothing else names it.
        """
        self._disarm()
        request_id = new_request_id()
        log.info(
            "connection closed: %s", reason, extra={"reason": reason, "request_id": request_id}
        )
        if answer:
            status_line = answer.index(b"\r\n") + 2
            line = b"x-request-id: " + request_id.encode() + b"\r\n"
            self.transport.write(answer[:status_line] + line + answer[status_line:])
        self.transport.close()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()


def _answers(limits: ConnectionLimits) -> dict[str, bytes]:
    return {
        "too_large": _raw_problem(
            HeadersTooLarge(f"The request line and headers exceed {limits.max_header_bytes} bytes")
        ),
        "timed_out": _raw_problem(RequestTimeout("The request was not received in time")),
        "cancelled": _raw_problem(ServiceUnavailable(CANCELLED_DETAIL)),
        "bad_request": _raw_problem(InvalidHttpRequest("The request is not valid HTTP/1.1")),
    }


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedHttpToolsProtocol]:
    """The protocol class uvicorn instantiates per connection, with these limits."""
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {"limits": limits, **_answers(limits)},
    )


# The class itself carries the default limits, for `uvicorn --http todo_api.server:...`.
for _name, _answer in _answers(GuardedHttpToolsProtocol.limits).items():
    setattr(GuardedHttpToolsProtocol, _name, _answer)


class Server(uvicorn.Server):
    """uvicorn's server, whose shutdown always ends: SHUTDOWN_GRACE_SECONDS and a margin after
    the signal, the process exits whatever a client, a request or a database thread is still
    doing.

    The deadline is armed when the signal arrives (`handle_exit`), not when uvicorn's main loop
    next looks at `should_exit` and calls `shutdown`: that is up to 0.1 s later on an idle loop,
    and later still on a busy one (research.md, "Shutdown within its bound").
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.hard_exit = HardExit()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # Its thread starts in the process that serves (not in one that forks it), before the
        # application's start-up, and before any signal: a signal handler starts no thread.
        self.hard_exit.start()
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._arm_hard_exit()
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._arm_hard_exit()  # a shutdown without a signal (limit_max_requests, say)
        await super().shutdown(sockets)

    def _arm_hard_exit(self) -> None:
        grace = self.config.timeout_graceful_shutdown or 0
        self.hard_exit.arm(grace + HARD_EXIT_MARGIN_SECONDS)


class HardExit:
    """A daemon thread that ends the process at a deadline, once started and armed (the first
    arming wins; an arming before the start counts from when it was made)."""

    def __init__(self) -> None:
        self._armed = threading.Event()
        self._deadline: float | None = None
        self._thread = threading.Thread(target=self._wait, name="todo-api-hard-exit", daemon=True)

    def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()

    @property
    def deadline(self) -> float | None:
        """When the process ends (time.monotonic()), or None until armed."""
        return self._deadline

    def arm(self, seconds: float) -> None:
        if self._deadline is None:
            self._deadline = time.monotonic() + seconds
            self._armed.set()

    def _wait(self) -> None:
        self._armed.wait()
        deadline = self._deadline or 0.0
        # time.sleep holds no lock and no GIL: nothing the process does can hold this back.
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(left)
        _exit_now()


def _exit_now() -> None:
    # An open transaction dies with the process: PostgreSQL rolls back a transaction whose
    # connection drops, SQLite ignores WAL frames without a commit. Never half-written.
    # The notice (and the log lines still queued) is written by a thread of its own: a stderr
    # that blocks (a full pipe) must not hold the exit back.
    notice = threading.Thread(target=_write_exit_notice, daemon=True)
    notice.start()
    notice.join(EXIT_NOTICE_SECONDS)
    os._exit(1)


def _write_exit_notice() -> None:
    flush_logs()  # the lines still queued first, in their order: atexit does not run here
    os.write(2, b"todo-api: shutdown did not finish within the grace period; exiting now\n")


# The standard library's event loop, not uvloop (uvicorn's "auto" when installed): under many
# keep-alive connections uvloop answered some requests many times later than the median, for the
# same CPU per request; our work per request is Python, not the loop's (the figures:
# docs/benchmarks.md; research P13).
EVENT_LOOP = "asyncio"


def make_server(app: Any, settings: Settings, host: str, port: int) -> Server:
    """The uvicorn server `todo-api serve` runs: guarded protocol, keep-alive, grace period."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(ConnectionLimits.from_settings(settings)),
        loop=EVENT_LOOP,
        timeout_keep_alive=settings.keep_alive_seconds,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        access_log=False,
        log_level="info",
    )
    return Server(config)
