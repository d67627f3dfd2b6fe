"""JSON log lines on stderr: one object per line, fields from `extra=`.

Every line goes through one LineSink (log_lines.py), which writes them in order from the event
loop without a thread and without blocking it. The access line, one per request, skips `logging`
altogether once `configure_logging` has run: no LogRecord, no handler lock, no formatter call,
one `json` encoding on the loop; the same line, field for field, as JsonFormatter writes for
`access_log.info("request", extra=fields)` (research.md, "The access line from the loop").
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import time
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _string
from typing import Any

from todo_api.log_lines import LineSink

_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
ACCESS_LOGGER = "todo_api.access"
access_log = logging.getLogger(ACCESS_LOGGER)
# json.dumps(entry, default=str) builds an encoder per call; this one is built once.
_encode = json.JSONEncoder(default=str).encode
_sink: LineSink | None = None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            # Several workers write to one stream: the pid says whose line it is.
            "pid": record.process,
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _SinkHandler(logging.Handler):
    """Formats a record where it is logged (these are rare: start-up, warnings, errors) and
    queues its line on the sink, behind the access lines logged before it."""

    def __init__(self, sink: LineSink) -> None:
        super().__init__()
        self.sink = sink
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # one bad record must not hide the others
            line = json.dumps({"level": "error", "msg": "a log record could not be formatted"})
        self.sink.put(line.encode() + b"\n")


def configure_logging(level: str) -> None:
    global _sink
    logger = logging.getLogger("todo_api")
    logger.setLevel(level.upper())
    if _sink is None:
        _sink = LineSink()
        atexit.register(_sink.close)  # writes what is still queued before the process ends
        logger.addHandler(_SinkHandler(_sink))
        logger.propagate = False


def flush_logs() -> None:
    """Writes the lines still queued, blocking (before an exit that skips atexit: os._exit)."""
    if _sink is not None:
        _sink.close()


def log_access(fields: dict[str, Any]) -> None:
    """The access line of one request: `fields` after the common ones, in their order.

    INFO, as before: dropped below LOG_LEVEL. Without `configure_logging` (the app in a test's
    process), it is a record of `todo_api.access`, for the handlers there.
    """
    if not access_log.isEnabledFor(logging.INFO):
        return
    if _sink is None:
        access_log.info("request", extra=fields)
        return
    _sink.put(access_line(fields, time.time()))


def access_line(fields: dict[str, Any], created: float) -> bytes:
    """What JsonFormatter writes for the access record with these fields, created then."""
    entry = {
        "ts": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
        "level": "info",
        "logger": ACCESS_LOGGER,
        "msg": "request",
        "pid": os.getpid(),
        **fields,
    }
    return _encode(entry).encode() + b"\n"


def log_request(
    method: str, path: str, status: int, duration_ms: float, request_id: str, user_id: str | None
) -> None:
    """The access line of one request (RequestIdMiddleware): as `log_access` with these fields,
    in this order, and built without a dict or the generic encoder (research P31)."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    if _sink is None:
        fields = {
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": duration_ms,
            "request_id": request_id,
            "user_id": user_id,
        }
        access_log.info("request", extra=fields)
        return
    _sink.put(request_line(method, path, status, duration_ms, request_id, user_id, time.time()))


def request_line(
    method: str,
    path: str,
    status: int,
    duration_ms: float,
    request_id: str,
    user_id: str | None,
    created: float,
) -> bytes:
    """`access_line` of these fields, written out: each string escaped as `json` escapes it
    (`ensure_ascii`), the numbers as it writes them (`int.__repr__`, `float.__repr__`)."""
    user = "null" if user_id is None else _string(user_id)
    return (
        f'{{"ts": "{_timestamp(created)}", "level": "info", "logger": "{ACCESS_LOGGER}", '
        f'"msg": "request", "pid": {os.getpid()}, "method": {_string(method)}, '
        f'"path": {_string(path)}, "status": {int.__repr__(status)}, '
        f'"duration_ms": {float.__repr__(duration_ms)}, "request_id": {_string(request_id)}, '
        f'"user_id": {user}}}\n'
    ).encode()


class _Second:
    """The formatted second of the last line: requests in one second share it."""

    __slots__ = ("second", "text")

    def __init__(self) -> None:
        self.second = -1
        self.text = ""


_last_second = _Second()


def _timestamp(created: float) -> str:
    """`datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")`, the second's
    part formatted once per second. The microseconds are rounded as datetime rounds them (half
    to even, carried into the next second), then cut to milliseconds as isoformat cuts them."""
    second = int(created)
    micro = round((created - second) * 1e6)
    if micro >= 1_000_000:
        second += 1
        micro -= 1_000_000
    last = _last_second
    if second != last.second:
        last.text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        last.second = second
    return f"{last.text}.{micro // 1000:03d}+00:00"
