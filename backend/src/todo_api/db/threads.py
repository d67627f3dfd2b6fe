"""Threads that run blocking calls for the event loop: started as needed, the one that went idle
last takes the next call, and each answer goes back with one `call_soon_threadsafe`.

`loop.run_in_executor` with a `ThreadPoolExecutor` does the same with more machinery on every
call: a `concurrent.futures.Future` with its condition variable, an asyncio future chained to it
by callbacks both ways, the pool's idle semaphore taken and released. The database's hop is on
every request; here it is one lock, one future and one callback (research P23).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from contextlib import suppress
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


class _Thread:
    """One worker's hand-off slot: the job it is given, and a lock released to wake it."""

    __slots__ = ("job", "wake")

    def __init__(self, job: _Job) -> None:
        self.job: _Job | None = job
        self.wake = threading.Lock()
        self.wake.acquire()


class Threads:
    """Up to `count` threads named `name`-N, each started when a call finds every thread busy;
    `close` lets the calls under way and queued finish, then ends them.

    A call goes to the thread that went idle last (its stack and caches are the warmest), or
    waits in a backlog that finishing threads take from before they sleep: with requests one at
    a time, one thread does all the work, as with an executor's lazily started threads."""

    def __init__(self, count: int, name: str) -> None:
        self._count = count
        self._name = name
        self._lock = threading.Lock()
        self._idle: list[_Thread] = []
        self._backlog: deque[_Job] = deque()
        self._threads: list[threading.Thread] = []
        self._closing = False

    async def call(self, function: Callable[[], T]) -> T:
        """`function()` on one of the threads; its result or its exception here. A call whose
        awaiting task is cancelled while it queues never runs; one under way runs on, and the
        caller's function must see that itself (transactions.py rolls back)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        job: _Job = (function, future, loop)
        with self._lock:
            if self._idle:
                worker = self._idle.pop()
                worker.job = job
                worker.wake.release()
            elif len(self._threads) < self._count:
                thread = threading.Thread(
                    target=self._serve,
                    args=(_Thread(job),),
                    name=f"{self._name}-{len(self._threads)}",
                    daemon=True,
                )
                self._threads.append(thread)
                thread.start()
            else:
                self._backlog.append(job)
        return await future

    def _serve(self, me: _Thread) -> None:
        while True:
            job = me.job
            me.job = None
            if job is None:  # closing
                return
            function, future, loop = job
            del job
            outcome = _outcome(function, future)
            del function
            # Idle (or on to the backlog) before the answer goes: the loop's next call then
            # finds this thread, the warmest, waiting.
            idle = False
            with self._lock:
                if self._backlog:
                    me.job = self._backlog.popleft()
                elif not self._closing:
                    self._idle.append(me)
                    idle = True
                closing = self._closing and me.job is None
            if outcome is not None:
                # A closed loop (RuntimeError): nobody awaits the answer any more.
                with suppress(RuntimeError):
                    loop.call_soon_threadsafe(_settle, future, *outcome)
            del future, loop, outcome
            if closing:
                return
            if idle:  # a call (or close) that takes this thread from the idle list wakes it
                me.wake.acquire()

    def close(self) -> None:
        """Wait for every call under way or queued, then end the threads."""
        with self._lock:
            self._closing = True
            threads, self._threads = self._threads, []
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.wake.release()  # job None: ends
        for thread in threads:
            thread.join()
        self._closing = False


def _outcome(
    function: Callable[[], Any], future: asyncio.Future[Any]
) -> tuple[Any, BaseException | None] | None:
    """The call's result or exception; None when it was not made."""
    if future.cancelled():
        # Its task was cancelled while it queued (`Task.cancel` cancels the future it awaits at
        # once): never begun, as an executor skips a cancelled future. Only a read of the
        # future's state from this thread; the loop alone changes it.
        return None
    try:
        return function(), None
    except BaseException as error:  # handed to the awaiting task, as an executor does
        return None, error
