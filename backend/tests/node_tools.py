"""Node packages the tests run (spec linters, the Better Auth issuer), installed from lockfiles."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


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
