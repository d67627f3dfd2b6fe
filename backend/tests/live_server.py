"""Start `todo-api serve` as a real uvicorn process on 127.0.0.1, the way `make run` does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from api_fixtures import SECRET, SETTINGS_ENV

CLI = [sys.executable, "-m", "todo_api.cli"]
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def child_env() -> dict[str, str]:
    """The test's environment without settings of its own: the server reads its .env."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV}
    return env | {"PYTHONUNBUFFERED": "1"}


def write_dotenv(
    workdir: Path, database_url: str | None = None, settings: dict[str, str] | None = None
) -> None:
    """The .env that `make run` writes: .env.example with a secret filled in (here, the tests'),
    and a database of the test's own (a SQLite file in `workdir` unless `database_url` is given);
    `settings` are appended (a later line wins)."""
    example = (REPO / ".env.example").read_text()
    database_url = database_url or f"sqlite:///{workdir}/served.db"
    extra = "".join(f"{name}={value}\n" for name, value in (settings or {}).items())
    (workdir / ".env").write_text(
        example.replace("BETTER_AUTH_SECRET=\n", f"BETTER_AUTH_SECRET={SECRET}\n").replace(
            "DATABASE_URL=sqlite:///./data/todo.db", f"DATABASE_URL={database_url}"
        )
        + extra
    )


@dataclass
class Server:
    process: subprocess.Popen[str]
    base: str
    curl: str
    log: Path


@contextmanager
def running_server(
    workdir: Path, database_url: str | None = None, settings: dict[str, str] | None = None
) -> Iterator[Server]:
    """`todo-api serve` in `workdir` (its .env, its log); several may share one `database_url`."""
    workdir.mkdir(parents=True, exist_ok=True)
    write_dotenv(workdir, database_url, settings)
    port = free_port()
    log = workdir / "server.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), "--demo-user", "demo-user"],
            cwd=workdir,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        curl = _wait_for_curl(process)
        yield Server(process, f"http://127.0.0.1:{port}", curl, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _wait_for_curl(process: subprocess.Popen[str]) -> str:
    """`serve --demo-user` prints its curl only once uvicorn is accepting connections."""
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise RuntimeError(f"server exited early with {process.returncode}")
        if line.strip().startswith("curl "):
            return line.strip()
    raise RuntimeError("no curl printed within 30 s")
