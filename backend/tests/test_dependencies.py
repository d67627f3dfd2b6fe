"""dependencies.py: an outage is two log lines however many requests meet it, with its reason and
length, and no credentials."""

from __future__ import annotations

import logging
import threading

import pytest
from sqlalchemy.exc import OperationalError

from todo_api.dependencies import Dependency, reason_of

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "todo_api.dependencies"]


def test_an_outage_is_one_error_line_and_one_info_line_with_its_length(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="todo_api")
    clock = Clock()
    store = Dependency("rate_limit_store", clock=clock)
    store.recovered()  # up already: nothing to say
    for _ in range(50):
        store.failed("ConnectionError: refused")
    assert not store.up
    assert store.reason == "ConnectionError: refused"
    clock.now += 12.5
    for _ in range(50):
        store.recovered()
    down, back = lines(caplog)
    assert (down.levelname, down.dependency, down.reason) == (  # type: ignore[attr-defined]
        "ERROR",
        "rate_limit_store",
        "ConnectionError: refused",
    )
    assert back.levelname == "INFO"
    assert back.down_seconds == 12.5  # type: ignore[attr-defined]
    assert back.failures == 50  # type: ignore[attr-defined]
    assert "12.5 s" in back.getMessage()
    assert store.up
    assert store.reason is None


def test_failures_from_many_threads_say_it_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="todo_api")
    database = Dependency("database")
    start = threading.Barrier(8)

    def fail_then_recover() -> None:
        start.wait()
        for _ in range(200):
            database.failed("OperationalError: gone")
        start.wait()
        for _ in range(200):
            database.recovered()

    threads = [threading.Thread(target=fail_then_recover) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.levelname for r in lines(caplog)] == ["ERROR", "INFO"]
    assert lines(caplog)[1].failures == 1600  # type: ignore[attr-defined]


def test_a_start_that_said_it_already_logs_no_error_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="todo_api")
    store = Dependency("rate_limit_store")
    store.failed("ConnectionError: refused", announce=False)
    store.failed("ConnectionError: refused")
    assert not store.up
    store.recovered()
    assert [r.levelname for r in lines(caplog)] == ["INFO"]


def test_the_reason_is_the_drivers_first_line_without_credentials() -> None:
    driver = Exception(
        'connection to "postgresql://todo_app:pw-secret@db:5432/todo" failed\nDETAIL: more'
    )
    wrapped = OperationalError("SELECT 1", {}, driver)
    reason = reason_of(wrapped)
    assert reason.startswith("Exception: connection to")
    assert "pw-secret" not in reason
    assert "todo_app" not in reason
    assert "DETAIL" not in reason
    assert reason_of(TimeoutError()) == "TimeoutError"
    assert len(reason_of(ValueError("x" * 1000))) == 200
