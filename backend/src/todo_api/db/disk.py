"""The disk under the database: which driver errors are its failures; for a SQLite file, its free
space and a probe write that tells when it takes writes again (PostgreSQL's disk is the server's,
seen only through its answers)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

# SQLite's primary result codes (an extended code keeps the primary one in its low byte).
SQLITE_IOERR = 10
SQLITE_FULL = 13
# PostgreSQL's SQLSTATE for a full disk (class 53, insufficient resources: `disk_full`).
POSTGRES_DISK_FULL = "53100"
# Below this much free space /readyz says not ready and a SQLite file's writes are refused (507),
# before SQLite itself runs out: its write-ahead log grows to 1,000 pages (4 MiB) between two
# checkpoints.
MIN_FREE_BYTES = 4 * 1024 * 1024
_PROBE_BYTES = 4096
_PROBE_NAME = ".todo-api-disk-probe"

DiskFailure = Literal["full", "io"]


def disk_failure(error: BaseException) -> DiskFailure | None:
    """ "full" (SQLITE_FULL, or PostgreSQL's `disk_full`) or "io" (SQLITE_IOERR) when the database
    failed on its disk; `error` is the driver's exception or SQLAlchemy's wrapper of it. None for
    anything else."""
    driver = getattr(error, "orig", None) or error
    if getattr(driver, "sqlstate", None) == POSTGRES_DISK_FULL:
        return "full"
    code = getattr(driver, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    if code & 0xFF == SQLITE_FULL:
        return "full"
    if code & 0xFF == SQLITE_IOERR:
        return "io"
    return None


def free_bytes(directory: Path) -> int:
    """Bytes an unprivileged process may still write there (root may dip into a reserve)."""
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize


def too_little_free(free: int) -> str | None:
    """Why `free` bytes take no more writes (for the log line), or None when they do."""
    return f"{free} bytes free, below {MIN_FREE_BYTES}" if free < MIN_FREE_BYTES else None


def probe(directory: Path) -> None:
    """Write, flush and remove a small file: raises OSError when the disk takes no writes."""
    path = directory / _PROBE_NAME
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(descriptor, b"\0" * _PROBE_BYTES)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    finally:
        path.unlink(missing_ok=True)
