"""cli.py, the real thing: `todo-api serve` under uvicorn on 127.0.0.1, as `make run` starts it."""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.api import SECRET
from fixtures.live_server import CLI, Server, child_env, free_port, running_server, write_dotenv

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module's tests that only ask it things: none writes a task or reads
    its log (a start is about a second and a half of CPU, research F5)."""
    with running_server(tmp_path_factory.mktemp("served")) as live:
        yield live


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Server]:
    """A server of the test's own, for a test that stops it and reads its whole log."""
    with running_server(tmp_path) as live:
        yield live


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


def test_server_logs_one_json_line_per_request_and_never_the_token(fresh_server: Server) -> None:
    server = fresh_server
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


def test_the_served_limits_refuse_a_giant_head_and_a_streamed_giant_body(server: Server) -> None:
    # The process as `make run` starts it, at its defaults (16 KiB head, 64 KiB body): each limit
    # in detail is test_hostile_clients.py's and test_bad_input.py's.
    token = shlex.split(server.curl)[3].removeprefix("Authorization: Bearer ")
    giant = httpx.get(f"{server.base}/healthz", headers={"X-Big": "a" * 20_000})
    assert giant.status_code == 431

    def body() -> Iterator[bytes]:  # no Content-Length: chunked, counted as it arrives
        for _ in range(70):
            yield b"x" * 1024

    streamed = httpx.post(
        f"{server.base}/api/demo-user/tasks",
        content=body(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413


def test_token_command_mints_a_token_the_server_accepts(server: Server) -> None:
    minted = subprocess.run(
        [*CLI, "token", "--sub", "scripted", "--email", "s@example.com", "--ttl", "60"],
        cwd=server.log.parent,  # the server's folder: its .env
        env=child_env(),
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
        # `*` (which browsers pair with no credentials, and which would open the API to any
        # page) is refused before anything listens.
        (f"BETTER_AUTH_SECRET={SECRET}\nCORS_ORIGINS=*\n", "a wildcard is not allowed"),
    ],
    ids=["missing-secret", "weak-secret", "alg-none", "cors-wildcard"],
)
def test_serve_refuses_to_start_with_unsafe_settings(
    tmp_path: Path, dotenv: str, message: str
) -> None:
    """The process as deployed, from its .env: one clear line, exit 2, nothing listening."""
    (tmp_path / ".env").write_text(dotenv)
    result = subprocess.run(
        [*CLI, "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "tooshort" not in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_on_a_taken_port_says_so_in_one_line_before_starting(tmp_path: Path) -> None:
    write_dotenv(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*CLI, "serve", "--port", str(port)],
            cwd=tmp_path,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"todo-api: cannot listen on 127.0.0.1:{port}: Address already in use (choose another "
        "with --port, or `make run PORT=...`)"
    ]
    assert result.stdout == ""


# What a quick command must not load: the settings, database, web and Redis layers are most of
# the CLI's start-up, paid by every test and script that runs it (research F4).
HEAVY = ("todo_api.settings", "todo_api.db", "fastapi", "sqlalchemy", "redis", "pydantic")
_RUN_AND_LIST_MODULES = """
import json, sys
from todo_api import cli
try:
    cli.main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize("command", [["--version"], ["secret"]])
def test_quick_commands_answer_without_the_settings_database_or_web_layers(
    command: list[str],
) -> None:
    done = subprocess.run(
        [CLI[0], "-c", _RUN_AND_LIST_MODULES, *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip(), done.stderr
    modules = json.loads(done.stderr.strip().splitlines()[-1])
    loaded = sorted({heavy for heavy in HEAVY for m in modules if f"{m}.".startswith(f"{heavy}.")})
    assert not loaded, f"todo-api {' '.join(command)} imported {loaded}"


# What a server on SQLite verifying with a shared secret, counting in memory, has no use for:
# PostgreSQL's driver, Redis' client, an HTTP client for an issuer's keys. Every `serve` start
# would pay their imports (research F6).
UNUSED_BY_SQLITE_WITH_A_SECRET = ("psycopg", "redis", "httpx")
_SERVE_AND_LIST_MODULES = """
import json, os, sys, threading, urllib.request
from todo_api import cli

def list_once_answering(url):
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                break
        except OSError:
            threading.Event().wait(0.05)
    # To a file: the server's own lines (the access line of this very request) share the
    # standard streams, and a line written from here could be cut by one of theirs.
    with open(sys.argv[2], "w") as listing:
        json.dump(sorted(sys.modules), listing)
    os._exit(0)

port = sys.argv[1]
threading.Thread(target=list_once_answering, args=(f"http://127.0.0.1:{port}/healthz",)).start()
cli.main(["serve", "--port", port])
"""


def test_serving_sqlite_with_a_secret_loads_no_postgresql_redis_or_http_client(
    tmp_path: Path,
) -> None:
    write_dotenv(tmp_path)
    listing = tmp_path / "modules.json"
    done = subprocess.run(
        [CLI[0], "-c", _SERVE_AND_LIST_MODULES, str(free_port()), str(listing)],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    modules = json.loads(listing.read_text())
    loaded = sorted(
        {
            top
            for top in UNUSED_BY_SQLITE_WITH_A_SECRET
            for m in modules
            if f"{m}.".startswith(f"{top}.")
        }
    )
    assert not loaded, f"todo-api serve on SQLite imported {loaded}"
