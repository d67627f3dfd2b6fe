"""JSON log lines on stderr: one object per line, fields from `extra=`.

Records are formatted and written by a writer thread: the event loop only puts them on a queue.
A write to stderr on the loop gives up the GIL for the system call, and under load the loop then
waits for a database thread to hand it back (docs/benchmarks.md; research.md, "Keep the GIL on
the event loop"). The writer writes every line already queued in one call: one system call, and
one wait for the GIL after it, per batch rather than per request (research P17).
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import sys
import threading
from datetime import UTC, datetime
from logging.handlers import QueueHandler
from typing import Any, TextIO

_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


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


class _Enqueue(QueueHandler):
    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # The listener is in this process: hand it the record untouched, so JsonFormatter still
        # sees `exc_info` (the base class would flatten it into the message).
        return record


class _LineWriter:
    """Formats queued records and writes all the lines waiting in one write."""

    def __init__(
        self, records: queue.SimpleQueue[logging.LogRecord | None], stream: TextIO
    ) -> None:
        self._records = records
        self._stream = stream
        self._formatter = JsonFormatter()
        self._thread = threading.Thread(target=self._run, name="todo-api-log-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Write what is still queued, then end the thread (at exit)."""
        self._records.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            batch = [self._records.get()]
            while True:
                try:
                    batch.append(self._records.get_nowait())
                except queue.Empty:
                    break
            lines = [self._line(record) for record in batch if record is not None]
            if lines:
                self._stream.write("".join(lines))
                self._stream.flush()
            if None in batch:
                return

    def _line(self, record: logging.LogRecord) -> str:
        try:
            return self._formatter.format(record) + "\n"
        except Exception:  # one bad record must not end the writer, nor hide the others
            return (
                json.dumps({"level": "error", "msg": "a log record could not be formatted"}) + "\n"
            )


def configure_logging(level: str) -> None:
    logger = logging.getLogger("todo_api")
    logger.setLevel(level.upper())
    if not any(getattr(h, "_todo_api", False) for h in logger.handlers):
        records: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
        writer = _LineWriter(records, sys.stderr)
        writer.start()
        atexit.register(writer.stop)  # writes what is still queued before the process ends
        handler = _Enqueue(records)
        handler._todo_api = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
