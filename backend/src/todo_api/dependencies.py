"""Whether each thing the service depends on answers: one log line when it stops, one when it is
back, and the state for the metrics' gauge.

Requests report every failure and every success; only a change of state is logged, so an outage
under load is two lines, not one per request. A success while up is one attribute read (`up`),
checked by the caller before it calls `recovered`: the hot path pays nothing more.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

log = logging.getLogger("todo_api.dependencies")

# The names the log lines and the gauge's `dependency` label use.
DATABASE = "database"
RATE_LIMIT_STORE = "rate_limit_store"
DISK = "disk"

_MAX_REASON = 200
# `scheme://user:password@host`: a driver may quote the URL it was given.
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def reason_of(error: BaseException) -> str:
    """The exception's class and the first line of its message (the driver's, when wrapped),
    without any credentials in a URL: safe to log."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    text = _CREDENTIALS.sub("***@", lines[0]) if lines else ""
    reason = f"{type(cause).__name__}: {text}" if text else type(cause).__name__
    return reason if len(reason) <= _MAX_REASON else reason[: _MAX_REASON - 1] + "…"


class Dependency:
    """Up or down, with the reason and start of the current outage.

    Thread-safe: database work reports from its threads, the rate-limit store from the event loop,
    the readiness probe from the thread pool. Only transitions take the lock.
    """

    __slots__ = ("_clock", "_failures", "_lock", "_reason", "_since", "name", "up")

    def __init__(self, name: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.up = True
        self._clock = clock
        self._lock = threading.Lock()
        self._since = 0.0
        self._reason = ""
        self._failures = 0

    @property
    def reason(self) -> str | None:
        """Why it is down (None while up)."""
        return None if self.up else self._reason

    def failed(self, reason: str, *, announce: bool = True) -> None:
        """It did not answer. The first failure logs one error line (unless the caller has said
        it another way: `announce=False`); later ones are only counted."""
        with self._lock:
            self._failures += 1
            if not self.up:
                return
            self.up = False
            self._since = self._clock()
            self._reason = reason
            self._failures = 1
        if announce:
            log.error(
                f"{self.name} does not answer",
                extra={"dependency": self.name, "reason": reason},
            )

    def recovered(self) -> None:
        """It answered: when it was down, one info line with how long the outage lasted."""
        with self._lock:
            if self.up:
                return
            self.up = True
            seconds = self._clock() - self._since
            failures, reason = self._failures, self._reason
        log.info(
            f"{self.name} answers again after {seconds:.1f} s",
            extra={
                "dependency": self.name,
                "reason": reason,
                "down_seconds": round(seconds, 3),
                "failures": failures,
            },
        )
