"""Every `sh` snippet of the README and docs/ that calls the API runs as written against a live
`todo-api serve`, with only the address changed: its variables are defined, its token is
accepted, and each status its comments promise (`# 204`) is the one the server answers.

A snippet calls the API when it uses `$API`. A `curl` in any other `sh` snippet must be listed in
NOT_RUN with the reason.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from fixtures.live_server import REPO, running_server

pytestmark = pytest.mark.server

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SNIPPET = re.compile(r"```sh\n(.*?)```", re.DOTALL)
CURL = re.compile(r"^[^#\n]*\bcurl\s", re.MULTILINE)  # a curl command, not one in a comment
DOCUMENTED_ADDRESS = "http://127.0.0.1:8000"
NOT_RUN = {
    # Starts a server of its own with METRICS_PORT; test_metrics.py covers the listener.
    ("operations.md", "curl -s http://127.0.0.1:9100/metrics"),
}


def snippets(page: Path) -> list[str]:
    return SNIPPET.findall(page.read_text())


def api_snippets(page: Path) -> list[str]:
    return [text for text in snippets(page) if "$API" in text]


def promised_statuses(snippet: str) -> list[int]:
    return [int(code) for code in re.findall(r"#\s*(\d{3})\b", snippet)]


def test_every_curl_snippet_is_run_or_says_why_not() -> None:
    for page in PAGES:
        for text in snippets(page):
            if not CURL.search(text) or "$API" in text:
                continue
            assert any(page.name == name and line in text for name, line in NOT_RUN), (
                f"{page.name}: a curl snippet neither uses $API (run by this test) nor is in "
                f"NOT_RUN:\n{text}"
            )


@pytest.mark.parametrize(
    "page", [page for page in PAGES if api_snippets(page)], ids=lambda page: page.name
)
def test_api_snippets_run_as_written(page: Path, tmp_path: Path) -> None:
    script = "\n".join(api_snippets(page))
    assert DOCUMENTED_ADDRESS in script, f"{page.name}: say where the API is ($API=...)"
    workdir = tmp_path / "server"
    with running_server(workdir) as server:
        # As in a checkout where `make run` serves: `.venv/bin/todo-api token` reads its `.env`.
        (workdir / ".venv").symlink_to(REPO / ".venv", target_is_directory=True)
        run = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script.replace(DOCUMENTED_ADDRESS, server.base)],
            cwd=workdir,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "invalid-token" not in output, output
    assert "forbidden" not in output, output
    # `curl -i` prints the status line right after the previous answer's body.
    answered = [int(code) for code in re.findall(r"HTTP/[\d.]+ (\d{3}) ", run.stdout)]
    assert answered == promised_statuses(script), output
