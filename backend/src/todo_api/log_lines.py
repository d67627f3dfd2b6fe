"""The one ordered way this process's log lines reach stderr: whole lines, written from the event
loop without blocking it.

Every line, the access line and the records of `logging` alike, is queued here in the order it
was put. On the event loop, the queue is written once per loop iteration (`loop.call_soon`), by a
non-blocking write: no thread, so no handing the GIL back and forth per line (research.md, "The
access line from the loop"). When stderr does not take more (a pipe nobody reads), the loop waits
for it to become writable (`loop.add_writer`) and keeps answering; past MAX_PENDING_BYTES, lines
are dropped and counted, and a warning line says how many once stderr takes lines again. A thread
without a running event loop (start-up, the workers' supervisor, exit) writes what is queued
itself, blocking as any stream would.

Lines never tear: each write holds whole lines and at most PIPE_BUF bytes, which POSIX writes to a
pipe in one piece, whatever the other workers sharing the pipe write (a single line longer than
that, a traceback, cannot be atomic: it is written alone).
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import socket
import stat
import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

PIPE_BUF = select.PIPE_BUF
# What may wait for a blocked stderr: about 3,000 access lines; the next ones are dropped.
MAX_PENDING_BYTES = 1 << 20


class LineSink:
    """Queues whole lines (bytes ending in a newline) from any thread and writes them in order."""

    def __init__(self, fd: int = 2) -> None:
        self._fd = fd
        self._poll_fd, self._write_now = _nonblocking_writer(fd)
        self._pending: deque[bytes] = deque()
        self._pending_bytes = 0
        self._dropped = 0
        self._queue_lock = threading.Lock()  # held for a few list operations, never for a write
        self._write_lock = threading.Lock()  # held by whoever writes: lines leave in order
        self._loop: asyncio.AbstractEventLoop | None = None  # the last loop that put a line
        self._flush_on: asyncio.AbstractEventLoop | None = None  # a flush is scheduled there
        self._waiting_on: asyncio.AbstractEventLoop | None = None  # waits there for writable

    def put(self, line: bytes) -> None:
        with self._queue_lock:
            if self._pending_bytes > MAX_PENDING_BYTES:
                self._dropped += 1
                return
            self._pending.append(line)
            self._pending_bytes += len(line)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._put_from_thread()
            return
        self._loop = loop
        if self._flush_on is not loop and self._waiting_on is not loop:
            self._flush_on = loop
            loop.call_soon(self._flush, loop)

    def close(self) -> None:
        """Write everything still queued, blocking (at exit)."""
        self._write_blocking()

    def _put_from_thread(self) -> None:
        loop = self._loop
        if loop is not None and loop.is_running():
            try:
                # The loop writes it, in order with its own lines, and this thread never waits
                # for a blocked stderr.
                loop.call_soon_threadsafe(self._schedule, loop)
                return
            except RuntimeError:  # closed meanwhile
                pass
        self._write_blocking()

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._flush_on is not loop and self._waiting_on is not loop:
            self._flush_on = loop
            loop.call_soon(self._flush, loop)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._flush_on = None
        written = True
        # Whoever holds the write lock looks at the queue again once it has let go: a line
        # queued meanwhile by someone who found the lock taken is never left behind.
        while written and (self._pending or self._dropped):
            if not self._write_lock.acquire(blocking=False):
                return
            try:
                written = self._drain(self._write_now)
            finally:
                self._write_lock.release()
        if not written and self._poll_fd is not None:
            self._waiting_on = loop
            loop.add_writer(self._poll_fd, self._writable, loop)

    def _writable(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._poll_fd is not None
        loop.remove_writer(self._poll_fd)
        self._waiting_on = None
        self._flush(loop)

    def _write_blocking(self) -> None:
        while self._pending or self._dropped:
            with self._write_lock:
                self._drain(self._write_all)

    def _write_all(self, chunk: bytes) -> int:
        view = memoryview(chunk)
        while view:
            view = view[os.write(self._fd, view) :]
        return len(chunk)

    def _drain(self, write: Callable[[bytes], int]) -> bool:
        """Writes what is queued, PIPE_BUF of whole lines at a time; False if stderr is full."""
        while True:
            chunk = self._take()
            if not chunk:
                return True
            try:
                written = write(chunk)
            except BlockingIOError:
                written = 0
            except OSError:  # stderr closed: nowhere to write, and nothing else to do
                continue
            if written < len(chunk):
                with self._queue_lock:
                    self._pending.appendleft(chunk[written:])
                    self._pending_bytes += len(chunk) - written
                return False

    def _take(self) -> bytes:
        with self._queue_lock:
            if not self._pending and self._dropped:
                notice = _dropped_line(self._dropped)
                self._pending.append(notice)
                self._pending_bytes += len(notice)
                self._dropped = 0
            lines: list[bytes] = []
            size = 0
            while self._pending and (not lines or size + len(self._pending[0]) <= PIPE_BUF):
                line = self._pending.popleft()
                lines.append(line)
                size += len(line)
            self._pending_bytes -= size
        return b"".join(lines)


def _nonblocking_writer(fd: int) -> tuple[int | None, Callable[[bytes], int]]:
    """A write to `fd` that never blocks, and the descriptor to wait on when it would.

    O_NONBLOCK is not set on `fd` itself: its open file description is shared with the other
    workers and the parent, whose blocking writes would then fail. A pipe or a terminal is
    opened again instead (a description of our own, same pipe); a socket (journald) is sent to
    with MSG_DONTWAIT; a regular file never blocks.
    """
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
            own = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            return own, lambda chunk: os.write(own, chunk)
        if stat.S_ISSOCK(mode):
            sock = socket.socket(fileno=os.dup(fd))
            return sock.fileno(), lambda chunk: sock.send(chunk, socket.MSG_DONTWAIT)
    except OSError:
        pass  # no /proc, say: written as it comes, as a stream handler would
    return None, lambda chunk: os.write(fd, chunk)


def _dropped_line(count: int) -> bytes:
    entry = {
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "level": "warning",
        "logger": "todo_api.logs",
        "msg": "log lines dropped: stderr was not read",
        "pid": os.getpid(),
        "dropped": count,
    }
    return (json.dumps(entry) + "\n").encode()
