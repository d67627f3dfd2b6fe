"""db/threads.py: the database's threads, started as needed, the warmest one first."""

from __future__ import annotations

import asyncio
import threading

import pytest

from todo_api.db.threads import Threads

pytestmark = [pytest.mark.unit, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _name() -> str:
    return threading.current_thread().name


async def test_calls_one_at_a_time_go_to_the_thread_that_went_idle_last() -> None:
    threads = Threads(3, "db")
    barrier = threading.Barrier(3, timeout=10)

    def together() -> str:
        barrier.wait()  # three calls at once: three threads
        return _name()

    try:
        assert len(set(await asyncio.gather(*(threads.call(together) for _ in range(3))))) == 3
        alone = {await threads.call(_name) for _ in range(20)}
        assert len(alone) == 1
    finally:
        threads.close()


async def test_more_calls_than_threads_wait_and_all_answer() -> None:
    threads = Threads(2, "db")
    running = 0
    most = 0
    lock = threading.Lock()

    def counted(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        threading.Event().wait(0.01)
        with lock:
            running -= 1
        return n

    try:
        assert await asyncio.gather(*(threads.call(lambda n=n: counted(n)) for n in range(20))) == [
            *range(20)
        ]
        assert most == 2
    finally:
        threads.close()


async def test_an_exception_comes_back_to_the_caller_and_close_ends_every_thread() -> None:
    threads = Threads(2, "db-test-close")

    def fails() -> None:
        raise LookupError("from the thread")

    with pytest.raises(LookupError, match="from the thread"):
        await threads.call(fails)
    threads.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("db-test-close")]
    assert await threads.call(_name) == "db-test-close-0"  # usable again, as after a restart
    threads.close()
