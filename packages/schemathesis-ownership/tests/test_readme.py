"""The README's quick start, as a new user runs it: the package built and installed into a fresh
virtual environment (no editable install, nothing of this repository on the path), the files the
README shows written as shown, and the Schemathesis CLI against a served fixture API with a hole
(the shop whose orders are read by id alone)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import sysconfig
import time
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from ownership_fixtures import shop

PACKAGE = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```[a-z]*\n# file: (?P<name>\S+)\n(?P<body>.*?)```", re.DOTALL)
COMMAND = re.compile(r"```sh\n(schemathesis run .*?)```", re.DOTALL)


def _fresh_environment(folder: Path) -> Path:
    """A new venv that sees the locked dependencies (this venv's site-packages, through a .pth
    file, whose own .pth files, the editable installs, are not read) and holds the package
    built from its source as a wheel."""
    venv.create(folder)  # no ensurepip: the locked pip is importable through the .pth file
    python = folder / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "locked-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            str(PACKAGE),
        ],
        check=True,
    )
    return python


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _serving(flaw: str) -> Iterator[str]:
    port = _free_port()
    code = (
        "import uvicorn; from ownership_fixtures import shop; "
        f"uvicorn.run(shop.create_app({flaw!r}), host='127.0.0.1', port={port}, log_level='error')"
    )
    env = {**os.environ, "PYTHONPATH": str(PACKAGE / "tests")}
    server = subprocess.Popen([sys.executable, "-c", code], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_quick_start_catches_a_hole_from_a_fresh_environment(tmp_path: Path) -> None:
    python = _fresh_environment(tmp_path / "venv")
    located = subprocess.run(
        [python, "-c", "import schemathesis_ownership as o; print(o.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert str(tmp_path / "venv") in located, "the package must come from the fresh venv"

    readme = (PACKAGE / "README.md").read_text(encoding="utf-8")
    project = tmp_path / "project"
    project.mkdir()
    for block in BLOCK.finditer(readme):
        (project / block["name"]).write_text(block["body"], encoding="utf-8")
    command = COMMAND.search(readme)
    assert command is not None
    arguments = command.group(1).replace("\\\n", " ").split()[1:]

    with _serving(shop.ORDER_READ_BY_ID_ALONE) as base:
        arguments[1] = f"{base}/openapi.json"
        run = subprocess.run(
            # The console script belongs to the locked install; its entry point, run by the
            # fresh interpreter, is the same command.
            [
                python,
                "-c",
                "from schemathesis.cli import schemathesis; schemathesis()",
                *arguments,
                "--max-examples",
                "5",
            ],
            cwd=project,
            env={**os.environ, "API_TEST_SECRET": shop.SECRET_KEY, "PYTHONPATH": ""},
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    assert "token_owned_isolation" in run.stdout, run.stdout[-3000:]
    assert "another user's GET of /orders/{order_id}" in run.stdout, run.stdout[-3000:]
