"""Node packages the tests run (spec linters, the Better Auth issuer), installed from lockfiles."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def _installing(folder: Path) -> Iterator[None]:
    """One installer at a time per folder, across pytest-xdist workers and concurrent runs:
    `npm ci` first deletes node_modules, so a second one (or a test reading the folder) that
    starts meanwhile breaks. The lock file lives outside the checkout (nothing to git-ignore) and
    the kernel releases it if its holder dies."""
    digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    lock = Path(tempfile.gettempdir()) / f"todo-api-npm-ci-{digest}.lock"
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def npm_ci(folder: Path, purpose: str) -> None:
    """`npm ci` in `folder` when its node_modules is missing or older than its lockfile.

    --ignore-scripts: none of these packages needs an install script (the only one seen is an
    analytics ping). Fails, rather than skips, without Node: CI machines have Node 20.
    """
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"`{tool}` is not on PATH: {purpose} need Node.js 20 or later")
    lockfile = folder / "package-lock.json"
    installed = folder / "node_modules" / ".package-lock.json"  # written last by npm
    with _installing(folder):  # checked again under the lock: another worker may have installed
        if installed.is_file() and installed.stat().st_mtime >= lockfile.stat().st_mtime:
            return
        npm = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert npm.returncode == 0, f"npm ci in {folder} failed:\n{npm.stdout}\n{npm.stderr}"
