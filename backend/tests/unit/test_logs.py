"""logs.py: JSON lines written by the listener thread, in a process of their own (the logging
configuration is process-wide, so it is not applied to the test runner)."""

from __future__ import annotations

import json
import subprocess
import sys

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
