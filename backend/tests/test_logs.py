"""logs.py: JSON lines, the access line the same as any record's, in a process of their own (the
logging configuration is process-wide, so it is not applied to the test runner)."""

from __future__ import annotations

import json
import logging
import math
import random
import subprocess
import sys
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import pytest

from todo_api.logs import ACCESS_LOGGER, JsonFormatter, _timestamp, access_line, request_line

pytestmark = pytest.mark.unit

SCRIPT = """
import logging
from todo_api.logs import configure_logging

configure_logging("INFO")
log = logging.getLogger("todo_api")
log.info("request", extra={"request_id": "r1", "status": 200})
try:
    1 / 0
except ZeroDivisionError:
    log.exception("unexpected error", extra={"request_id": "r2"})
"""  # the process ends right after: what is still queued must be written at exit


def test_records_reach_stderr_as_json_lines_with_their_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30, check=True
    )
    first, second = (json.loads(line) for line in result.stderr.splitlines())
    assert (first["msg"], first["request_id"], first["status"]) == ("request", "r1", 200)
    assert (second["msg"], second["request_id"]) == ("unexpected error", "r2")
    assert "ZeroDivisionError" in second["exc"]


BURST = """
import logging
from todo_api.logs import configure_logging

configure_logging("INFO")
log = logging.getLogger("todo_api.access")
for i in range(2000):
    log.info("request", extra={"n": i})
"""  # queued faster than written: the writer takes them in batches


def test_a_burst_of_records_is_written_whole_and_in_order() -> None:
    result = subprocess.run(
        [sys.executable, "-c", BURST], capture_output=True, text=True, timeout=30, check=True
    )
    assert [json.loads(line)["n"] for line in result.stderr.splitlines()] == list(range(2000))


ACCESS_FIELDS = [
    {
        "method": "GET",
        "path": "/api/{user_id}/tasks/{task_id}",
        "status": 404,
        "duration_ms": 1.234,
        "request_id": "req-1",
        "user_id": "alice",
    },
    {
        "method": "POST",
        "path": "/api/{user_id}/tasks",
        "status": 401,
        "duration_ms": 0.05,
        "request_id": "0123456789abcdef0123456789abcdef",
        "user_id": None,
    },
    {
        "method": "PATCH",
        "path": '/caf\u00e9/"quoted"\\',
        "status": 500,
        "duration_ms": 12345.0,
        "request_id": "a:b.c-d_e",
        "user_id": "\u00e9l\u00e8ve",
    },
]


@pytest.mark.parametrize("fields", ACCESS_FIELDS)
def test_the_access_line_is_the_line_the_formatter_writes_for_its_record(
    fields: dict[str, Any],
) -> None:
    record = logging.getLogger(ACCESS_LOGGER).makeRecord(
        ACCESS_LOGGER, logging.INFO, __file__, 1, "request", (), None, extra=fields
    )
    expected = JsonFormatter().format(record) + "\n"
    assert access_line(fields, record.created).decode() == expected
    assert list(json.loads(expected)) == [
        *("ts", "level", "logger", "msg", "pid"),
        *("method", "path", "status", "duration_ms", "request_id", "user_id"),
    ]
    # The access line of a request, written out field by field (RequestIdMiddleware's).
    assert request_line(**fields, created=record.created).decode() == expected


# Strings json escapes (quotes, backslashes, controls, non-ASCII, a lone surrogate), and
# durations json writes in each of float's forms.
ODD_FIELDS = [
    {"path": '/x"\\y\n\t\u0001', "user_id": "\u00e9\U0001f600\ud800", "duration_ms": 1e-05},
    {"path": "/api/\u2028", "user_id": "", "duration_ms": 123456789.125},
    {"path": "/", "user_id": "a b", "duration_ms": 0.0},
]


@pytest.mark.parametrize("odd", ODD_FIELDS)
def test_the_request_line_escapes_and_writes_numbers_as_json_does(odd: dict[str, Any]) -> None:
    fields = {**ACCESS_FIELDS[0], "status": HTTPStatus.OK, **odd}
    record = logging.getLogger(ACCESS_LOGGER).makeRecord(
        ACCESS_LOGGER, logging.INFO, __file__, 1, "request", (), None, extra=fields
    )
    expected = JsonFormatter().format(record) + "\n"
    assert request_line(**fields, created=record.created).decode() == expected


def test_the_request_lines_time_is_the_formatters_to_the_millisecond() -> None:
    """Rounded to the microsecond as datetime rounds (half to even, into the next second),
    then cut to the millisecond; the second formatted once and kept."""
    draw = random.Random(26)  # noqa: S311 - a fixed, reproducible sample
    base = 1_796_601_600.0  # 2026-12-07
    times = [base + draw.uniform(0, 86_400 * 400) for _ in range(20_000)]
    edges = [0.0, 0.0005, 0.0009995, 0.9994999, 0.9995, 0.9999994, 0.9999995, 0.99999999]
    times += [base + second + edge for second in (0, 1, 59, 3_599) for edge in edges]
    times += [math.nextafter(base + 1, 0), math.nextafter(base + 1, math.inf)]
    for created in sorted(times) + times[:500]:  # in order, then back in time
        formatted = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
        assert _timestamp(created) == formatted, created


LEVELS = """
import asyncio, sys
from todo_api.logs import configure_logging, log_access

configure_logging(sys.argv[1])

async def main() -> None:
    log_access({"method": "GET", "path": "/api/me", "status": 200, "request_id": "r1"})

asyncio.run(main())
"""


@pytest.mark.parametrize(("level", "lines"), [("INFO", 1), ("WARNING", 0)])
def test_the_access_line_is_info_and_log_level_drops_it(level: str, lines: int) -> None:
    result = subprocess.run(
        [sys.executable, "-c", LEVELS, level],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    written = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(line["level"], line["request_id"]) for line in written] == [("info", "r1")] * lines


ORDER = """
import asyncio, logging
from todo_api.logs import configure_logging, log_access

configure_logging("INFO")
log = logging.getLogger("todo_api")

async def main() -> None:
    for n in range(300):
        if n % 3 == 0:
            log.info("record", extra={"n": n})
        else:
            log_access({"n": n})
    log.warning("last", extra={"n": 300})  # still queued when the loop ends: written at exit

asyncio.run(main())
log_access({"n": 301})  # no loop any more: written at once
"""


def test_access_lines_and_records_keep_the_order_they_were_logged_in() -> None:
    result = subprocess.run(
        [sys.executable, "-c", ORDER], capture_output=True, text=True, timeout=30, check=True
    )
    written = [json.loads(line) for line in result.stderr.splitlines()]
    assert [line["n"] for line in written] == list(range(302))
    assert {line["logger"] for line in written} == {"todo_api", "todo_api.access"}
