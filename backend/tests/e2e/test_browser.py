"""The whole flow in a real browser: Better Auth sign-in, then this API from another origin.

Four loopback servers: the real Better Auth issuer (interop/issuer, JWTs living TOKEN_SECONDS),
`todo-api serve` trusting it (CORS_ORIGINS = the page's origin, no clock leeway), and the page of
examples/web twice, on the allowed origin and on a stranger's. examples/web/browser-test.mjs
drives Debian's Chromium headless through playwright-core and prints what it saw; screenshots go
to reports/e2e/.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import jwt
import pytest

from fixtures.api import SECRET
from fixtures.live_server import REPO, free_port, running_server
from fixtures.node_tools import npm_ci

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.server]

WEB = REPO / "examples" / "web"
ISSUER = REPO / "backend" / "tests" / "interop" / "issuer"
CLIENT = REPO / "clients" / "typescript"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = REPO / "reports" / "e2e"
TOKEN_SECONDS = 6  # Better Auth's JWT lifetime here: the test waits it out once
DEV_USER = "demo-user"  # the one running_server names with `serve --demo-user`


@pytest.fixture(scope="module")
def installed() -> None:
    for folder, purpose in ((ISSUER, "the Better Auth issuer"), (CLIENT, "the client")):
        npm_ci(folder, purpose)
    npm_ci(WEB, "the example page and its browser test")
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does)")


def _path() -> str:
    return os.environ.get("PATH", "/usr/bin:/bin")


@contextmanager
def node_server(script: str, cwd: Path, **env: str) -> Iterator[str]:
    """`node script` with `env`, until it prints "ready <origin>"; yields the origin."""
    process = subprocess.Popen(
        ["node", script],
        cwd=cwd,
        env={"PATH": _path(), "NODE_ENV": "test", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("ready "), f"{script} did not start (exit {process.poll()})"
        yield line.split()[1]
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_page_type_checks_strictly(installed: None) -> None:
    checked = subprocess.run(
        [str(WEB / "node_modules" / ".bin" / "tsc"), "--strict", "--noEmit", "-p", "."],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_sign_in_then_tasks_from_another_origin_in_chromium(
    installed: None, tmp_path: Path
) -> None:
    page_port, stranger_port = free_port(), free_port()
    page_origin = f"http://127.0.0.1:{page_port}"
    with ExitStack() as servers:
        auth = servers.enter_context(
            node_server(
                "server.mjs",
                ISSUER,
                PORT=str(free_port()),
                SECRET=secrets.token_urlsafe(48),
                EXPIRATION=f"{TOKEN_SECONDS}s",
                PAGE_ORIGIN=page_origin,
            )
        )
        api = servers.enter_context(
            running_server(
                tmp_path / "api",
                settings={
                    "BETTER_AUTH_URL": auth,
                    "CORS_ORIGINS": page_origin,
                    "AUTH_LEEWAY_SECONDS": "0",
                },
            )
        ).base
        urls = {"API_URL": api, "AUTH_URL": auth}
        page = servers.enter_context(node_server("serve.mjs", WEB, PORT=str(page_port), **urls))
        stranger = servers.enter_context(
            node_server("serve.mjs", WEB, PORT=str(stranger_port), **urls)
        )

        shutil.rmtree(SCREENSHOTS, ignore_errors=True)
        SCREENSHOTS.mkdir(parents=True)
        now = int(time.time())
        # What `todo-api token` mints: HS256 with the shared secret, iss/aud = Better Auth's.
        claims = {"sub": DEV_USER, "iat": now, "exp": now + 600, "iss": auth, "aud": auth}
        dev_token = jwt.encode(claims, SECRET)
        started = time.monotonic()
        browser = subprocess.run(
            ["node", "browser-test.mjs"],
            cwd=WEB,
            env={
                "PATH": _path(),
                "PAGE_URL": page,
                "STRANGER_URL": stranger,
                "DEV_USER": DEV_USER,
                "DEV_TOKEN": dev_token,
                "TOKEN_SECONDS": str(TOKEN_SECONDS),
                "SCREENSHOTS": str(SCREENSHOTS),
                "CHROMIUM": CHROMIUM,
                **urls,
            },
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )

        # The same preflights on the wire, to read what the browser does not show a page.
        preflight = {
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        }
        allowed = httpx.options(f"{api}/api/me", headers={"Origin": page, **preflight})
        refused = httpx.options(f"{api}/api/me", headers={"Origin": stranger, **preflight})
    assert browser.returncode == 0, browser.stdout + browser.stderr
    seen = json.loads(browser.stdout)
    print(f"browser test: {time.monotonic() - started:.1f} s, {seen['requests']} requests")

    assert seen["user_one_after_reload"] == [
        {"title": "write the report", "completed": False},
        {"title": "buy milk", "completed": True},
    ]
    assert seen["user_two_tasks"] == []
    # Every API answer the page read let its origin in.
    assert seen["api_allow_origins"]
    assert set(seen["api_allow_origins"]) == {page}
    # The page kept its token past expiry: 401, a new JWT from Better Auth, the retry succeeds.
    assert seen["after_expiry"][:3] == [
        f"api POST /api/{seen['user_two_id']}/tasks 401",
        "auth GET /api/auth/token 200",
        f"api POST /api/{seen['user_two_id']}/tasks 201",
    ]
    assert seen["allowed_origin_probe"] == "answered 401"
    assert seen["stranger_origin_probe"] == "refused: TypeError"
    # "Try it out" came filled with the demo user's id (served example): the first Execute is 200.
    assert seen["swagger_user_id"] == DEV_USER
    assert seen["swagger_status"] == "200"
    assert seen["redoc_heading"].startswith("Tasks API")
    assert seen["foreign"] == []  # no request left loopback: no CDN, no font, no logo

    # The page's origin is let in with Authorization; a stranger's preflight is a problem.
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == page
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["status"] == 400
    assert "access-control-allow-origin" not in refused.headers
    for name in ("1-user-one", "3-user-two", "5-swagger", "6-redoc"):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 1000
