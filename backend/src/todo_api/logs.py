"""JSON log lines on stderr: one object per line, fields from `extra=`.

Records are formatted and written by a listener thread: the event loop only puts them on a queue.
A write to stderr on the loop gives up the GIL for the system call, and under load the loop then
waits for a database thread to hand it back (docs/benchmarks.md; research.md, "Keep the GIL on
the event loop").
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import sys
from datetime import UTC, datetime
from logging.handlers import QueueHandler, QueueListener
from typing import Any

_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _Enqueue(QueueHandler):
    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # The listener is in this process: hand it the record untouched, so JsonFormatter still
        # sees `exc_info` (the base class would flatten it into the message).
        return record


def configure_logging(level: str) -> None:
    logger = logging.getLogger("todo_api")
    logger.setLevel(level.upper())
    if not any(getattr(h, "_todo_api", False) for h in logger.handlers):
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        writer = logging.StreamHandler(sys.stderr)
        writer.setFormatter(JsonFormatter())
        listener = QueueListener(records, writer)
        listener.start()
        atexit.register(listener.stop)  # writes what is still queued before the process ends
        handler = _Enqueue(records)
        handler._todo_api = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
