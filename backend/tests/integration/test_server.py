"""The real thing: `todo-api serve` under uvicorn on 127.0.0.1, as `make run` starts it."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api_fixtures import SECRET

pytestmark = pytest.mark.server

CLI = [sys.executable, "-m", "todo_api.cli"]
REPO = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"BETTER_AUTH_SECRET", "DATABASE_URL"}}
    return env | {"PYTHONUNBUFFERED": "1"}


@dataclass
class Server:
    process: subprocess.Popen[str]
    base: str
    curl: str
    log: Path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    # The .env that `make run` writes: .env.example with a generated secret filled in.
    example = (REPO / ".env.example").read_text()
    (tmp_path / ".env").write_text(
        example.replace("BETTER_AUTH_SECRET=\n", f"BETTER_AUTH_SECRET={SECRET}\n").replace(
            "DATABASE_URL=sqlite:///./data/todo.db", f"DATABASE_URL=sqlite:///{tmp_path}/served.db"
        )
    )
    port = _free_port()
    log = tmp_path / "server.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), "--demo-user", "demo-user"],
            cwd=tmp_path,
            env=_env(tmp_path),
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
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            pytest.fail(f"server exited early with {process.returncode}")
        if line.strip().startswith("curl "):
            return line.strip()
    pytest.fail("no curl printed within 30 s")


def _run_curl_as_httpx(curl: str) -> httpx.Response:
    words = shlex.split(curl)
    header = words[words.index("-H") + 1]
    name, _, value = header.partition(": ")
    return httpx.get(words[-1], headers={name: value})


def test_printed_curl_works_and_the_same_call_without_it_is_401(server: Server) -> None:
    assert re.fullmatch(r"curl -i -H '.+' http://127\.0\.0\.1:\d+/api/demo-user/tasks", server.curl)
    with_token = _run_curl_as_httpx(server.curl)
    assert with_token.status_code == 200
    assert with_token.json() == {"items": [], "next_cursor": None}

    without = httpx.get(shlex.split(server.curl)[-1])
    assert without.status_code == 401
    assert without.headers["www-authenticate"] == 'Bearer realm="todo-api"'


def test_served_docs_and_their_assets_load_offline(server: Server) -> None:
    html = httpx.get(f"{server.base}/docs").text
    assert "/static-offline-docs/swagger-ui-bundle.js" in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        response = httpx.get(f"{server.base}/static-offline-docs/{asset}")
        assert response.status_code == 200, asset
    assert httpx.get(f"{server.base}/openapi.json").json()["openapi"] == "3.1.0"


def test_server_logs_one_json_line_per_request_and_never_the_token(server: Server) -> None:
    token = shlex.split(server.curl)[3].removeprefix("Authorization: Bearer ")
    _run_curl_as_httpx(server.curl)
    httpx.get(f"{server.base}/api/demo-user/tasks", headers={"Authorization": "Bearer bad.x.y"})
    server.process.terminate()
    server.process.wait(timeout=10)
    log = server.log.read_text()
    access = [line for line in log.splitlines() if '"logger": "todo_api.access"' in line]
    assert len(access) == 2
    assert '"path": "/api/{user_id}/tasks"' in access[0]
    assert '"status": 401' in access[1]
    assert token not in log
    assert "bad.x.y" not in log


def test_token_command_mints_a_token_the_server_accepts(server: Server, tmp_path: Path) -> None:
    minted = subprocess.run(
        [*CLI, "token", "--sub", "scripted", "--email", "s@example.com", "--ttl", "60"],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    me = httpx.get(f"{server.base}/api/me", headers={"Authorization": f"Bearer {minted}"})
    assert me.status_code == 200
    assert me.json()["email"] == "s@example.com"


@pytest.mark.parametrize(
    ("dotenv", "message"),
    [
        ("", "BETTER_AUTH_SECRET is not set"),
        ("BETTER_AUTH_SECRET=tooshort\n", "at least 32 bytes"),
        (f"BETTER_AUTH_SECRET={SECRET}\nAUTH_ALGORITHMS=none\n", "AUTH_ALGORITHMS"),
    ],
    ids=["missing", "weak", "alg-none"],
)
def test_serve_refuses_to_start_without_a_usable_secret(
    tmp_path: Path, dotenv: str, message: str
) -> None:
    (tmp_path / ".env").write_text(dotenv)
    result = subprocess.run(
        [*CLI, "serve", "--port", str(_free_port())],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "tooshort" not in result.stderr
    assert "Traceback" not in result.stderr
