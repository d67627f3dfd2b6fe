"""Threads that run blocking calls for the event loop: a fixed set fed by one queue, each answer
handed back with one `call_soon_threadsafe`.

`loop.run_in_executor` with a `ThreadPoolExecutor` does the same with more machinery on every
call: a `concurrent.futures.Future` with its condition variable, an asyncio future chained to it
by callbacks both ways, the pool's idle semaphore taken and released. The database's hop is on
every request; here it is one queue put, one future, and one callback (research P23).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextlib import suppress
from queue import SimpleQueue
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[Callable[[], Any], asyncio.Future[Any], asyncio.AbstractEventLoop]


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    # The awaiting task may have been cancelled while the call ran: its answer goes nowhere.
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class Workers:
    """`count` threads named `name`-N, started on first use; `close` lets the calls under way
    and queued finish, then ends them."""

    def __init__(self, count: int, name: str) -> None:
        self._count = count
        self._name = name
        self._jobs: SimpleQueue[_Job | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []

    async def call(self, function: Callable[[], T]) -> T:
        """`function()` on one of the threads; its result or its exception here. A call whose
        awaiting task is cancelled while it queues never runs; one under way runs on, and the
        caller's function must see that itself (transactions.py rolls back)."""
        if not self._threads:
            self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((function, future, loop))
        return await future

    def _start(self) -> None:
        for number in range(self._count):
            thread = threading.Thread(
                target=self._serve, name=f"{self._name}-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _serve(self) -> None:
        jobs = self._jobs
        while (job := jobs.get()) is not None:
            function, future, loop = job
            if future.cancelled():
                # Its task was cancelled while it queued (`Task.cancel` cancels the future it
                # awaits at once): never begun, as an executor skips a cancelled future. Only a
                # read of the future's state from this thread; the loop alone changes it.
                continue
            try:
                result = function()
            except BaseException as error:  # handed to the awaiting task, as an executor does
                outcome: tuple[Any, BaseException | None] = (None, error)
            else:
                outcome = (result, None)
            del job, function
            # A closed loop (RuntimeError): nobody awaits the answer any more.
            with suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, *outcome)
            del future, loop, outcome

    def close(self) -> None:
        """Wait for every call under way or queued, then end the threads."""
        threads, self._threads = self._threads, []
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            thread.join()
