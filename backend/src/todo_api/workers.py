"""Several worker processes on one listening socket: `todo-api serve --workers N`.

Each worker is a spawned process that runs what `todo-api serve` runs in one: the parent's
Settings (validated once, before any worker starts, and handed over whole), JSON logs, the
guarded protocol and its limits, metrics, and the shutdown that always ends (server.py).
uvicorn's supervisor (`uvicorn.supervisors.Multiprocess`) builds uvicorn's own `Server` in each
worker, with no public way to give it ours, so the parent here is a small supervisor of its own
(research.md, "Several workers, one command").

    start    the parent binds the port, then spawns the workers; each accepts on that socket
    a death  a worker that ends by itself is replaced; one that ends before serving stops all;
             a parent killed outright (SIGKILL) leaves no orphans: each worker stops itself
    stop     SIGTERM or SIGINT to the parent: SIGTERM to every worker, each shuts down as one
             process does, and the parent ends once they have (killing any still alive then)
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event
from types import FrameType

from uvicorn.config import STARTUP_FAILURE

from todo_api.logs import configure_logging
from todo_api.settings import ConfigError, Settings
from todo_api.settings.observability import MULTIPROC_DIR_VARIABLE

log = logging.getLogger("todo_api.workers")

WORKERS_VARIABLE = "WEB_CONCURRENCY"  # as uvicorn and gunicorn read it
# Each worker exits by itself within the grace period and server.py's hard-exit margin (0.8 s);
# the parent kills any still alive past the grace period and this, the documented bound.
STOP_MARGIN_SECONDS = 1.0
_POLL_SECONDS = 0.2


def worker_count(flag: int | None, environ: Mapping[str, str]) -> int:
    """--workers, else WEB_CONCURRENCY, else 1."""
    if flag is not None:
        if flag < 1:
            raise ConfigError("--workers must be 1 or more")
        return flag
    raw = environ.get(WORKERS_VARIABLE, "").strip()
    if not raw:
        return 1
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{WORKERS_VARIABLE} must be a whole number, 1 or more")
    return int(raw)


@contextmanager
def shared_metrics(settings: Settings, workers: int) -> Iterator[None]:
    """With several workers and METRICS_PORT, a private PROMETHEUS_MULTIPROC_DIR for this run
    (unless the operator chose one): created empty before the workers start, which inherit it,
    and removed when they have ended, so every run counts from zero."""
    if workers == 1 or settings.metrics_port is None or os.environ.get(MULTIPROC_DIR_VARIABLE):
        yield
        return
    directory = tempfile.mkdtemp(prefix="todo-api-metrics-")
    os.environ[MULTIPROC_DIR_VARIABLE] = directory
    try:
        yield
    finally:
        del os.environ[MULTIPROC_DIR_VARIABLE]
        shutil.rmtree(directory, ignore_errors=True)


def run_worker(
    settings: Settings,
    host: str,
    port: int,
    listener: socket.socket,
    ready: Event,
    docs_user: str | None = None,
) -> None:
    """A worker's whole life: the one-process server, on the parent's socket."""
    from todo_api.main import create_app
    from todo_api.server import make_server

    configure_logging(settings.log_level)
    threading.Thread(target=_stop_with_the_parent, daemon=True).start()
    server = make_server(create_app(settings, docs_user=docs_user), settings, host, port)
    threading.Thread(target=_when_started, args=(server, ready.set), daemon=True).start()
    server.run(sockets=[listener])  # exits with STARTUP_FAILURE if the app cannot start


def _when_started(server: object, then: Callable[[], None]) -> None:
    """Call `then` once uvicorn's `server` accepts connections (never, if it stops first)."""
    while not getattr(server, "started", False):
        if getattr(server, "should_exit", False):
            return
        time.sleep(0.05)
    then()


def _stop_with_the_parent() -> None:
    """A parent gone without stopping its workers (SIGKILL) leaves no one to stop them: each
    then stops itself, as on SIGTERM, rather than serve on as an orphan."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        multiprocessing.connection.wait([parent.sentinel])
        os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class _Worker:
    process: SpawnProcess
    ready: Event


@dataclass
class Supervisor:
    """Runs `count` workers on `listener` until a signal, or a worker that ends before serving."""

    settings: Settings
    host: str
    port: int
    listener: socket.socket
    count: int
    docs_user: str | None = None  # serve --demo-user: see create_app
    _workers: list[_Worker] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _signal: int | None = None

    def __post_init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")
        self.any_ready = threading.Event()  # set once some worker accepts connections

    def run(self) -> int:
        """128 + the signal's number once the workers are gone (143 after SIGTERM, as a shell
        reports a process ended by it; exiting, not dying, lets the last log lines out); 1
        when a worker ended before serving."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        failed = False
        try:
            self._workers = [self._spawn() for _ in range(self.count)]
            log.info("workers started", extra={"workers": [w.process.pid for w in self._workers]})
            while not self._stop.wait(_POLL_SECONDS):
                if any(worker.ready.is_set() for worker in self._workers):
                    self.any_ready.set()
                failed = self._replace_the_dead()
                if failed:
                    break
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if failed:
            return 1
        return 128 + self._signal if self._signal is not None else 0

    def _spawn(self) -> _Worker:
        ready = self._context.Event()
        process = self._context.Process(
            target=run_worker,
            args=(self.settings, self.host, self.port, self.listener, ready, self.docs_user),
            name="todo-api-worker",
        )
        process.start()
        return _Worker(process, ready)

    def _replace_the_dead(self) -> bool:
        for i, worker in enumerate(self._workers):
            if worker.process.is_alive() or self._stop.is_set():
                continue
            code = worker.process.exitcode
            if code == STARTUP_FAILURE or not worker.ready.is_set():
                # What failed at start (database, metrics port, ...) would fail again on every
                # restart: the instance stops, and its orchestrator says so.
                log.error(
                    "a worker ended before serving; stopping",
                    extra={"worker_pid": worker.process.pid, "exit_code": code},
                )
                return True
            log.warning(
                "a worker ended; starting another",
                extra={"worker_pid": worker.process.pid, "exit_code": code},
            )
            self._workers[i] = self._spawn()
        return False

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if self._signal is None:
            self._signal = sig
        self._stop.set()

    def _stop_all(self) -> None:
        for worker in self._workers:
            if worker.process.is_alive() and worker.process.pid is not None:
                os.kill(worker.process.pid, signal.SIGTERM)
        bound = self.settings.shutdown_grace_seconds + STOP_MARGIN_SECONDS
        deadline = time.monotonic() + bound
        for worker in self._workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                print(
                    f"todo-api: worker {worker.process.pid} still running {bound:g} s after "
                    "SIGTERM; killing it",
                    file=sys.stderr,
                    flush=True,
                )
                worker.process.kill()
                worker.process.join()
        log.info("workers stopped")
