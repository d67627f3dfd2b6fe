"""The TypeScript client (clients/typescript) is generated from the contract and works against it.

The committed `src/schema.d.ts` must be what openapi-typescript makes of openapi/openapi.yaml
today, the package must type-check under `tsc --strict`, and its example (examples/tour.ts) must
run every operation under Node against a live `todo-api serve`, reading each failure as a typed
problem. The README and docs show the reference page's api.ts verbatim.
"""

from __future__ import annotations

import difflib
import json
import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from api_fixtures import SECRET
from live_server import REPO, running_server
from node_tools import npm_ci

pytestmark = pytest.mark.node

CLIENT = REPO / "clients" / "typescript"
BIN = CLIENT / "node_modules" / ".bin"


@pytest.fixture(scope="module")
def client_installed() -> None:
    npm_ci(CLIENT, "the TypeScript client tests")


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=CLIENT, capture_output=True, text=True, timeout=180, check=False, **kwargs
    )


def generate_command(output: Path) -> list[str]:
    """package.json's `generate` script (the one way the file is made), writing to `output`."""
    script = json.loads((CLIENT / "package.json").read_text())["scripts"]["generate"]
    words = shlex.split(script)
    words[words.index("-o") + 1] = str(output)
    return [str(BIN / words[0]), *words[1:]]


def test_committed_types_are_what_the_spec_generates(
    client_installed: None, tmp_path: Path
) -> None:
    fresh = tmp_path / "schema.d.ts"
    generated = run(generate_command(fresh))
    assert generated.returncode == 0, generated.stderr
    committed = (CLIENT / "src" / "schema.d.ts").read_text()
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            fresh.read_text().splitlines(keepends=True),
            "src/schema.d.ts (committed)",
            "generated from openapi/openapi.yaml",
            n=1,
        )
    )
    assert not diff, f"the client's types drifted from the spec; run `npm run generate`:\n{diff}"


def test_client_and_example_type_check_strictly(client_installed: None) -> None:
    checked = run([str(BIN / "tsc"), "--strict", "--noEmit", "-p", "."])
    assert checked.returncode == 0, checked.stdout + checked.stderr


def expired_token(sub: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now - 7200, "exp": now - 3600}, SECRET)


def fresh_token(sub: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + 600}, SECRET)


@pytest.mark.server
def test_example_runs_every_operation_against_a_live_server(
    client_installed: None, tmp_path: Path
) -> None:
    # Emit only: the strict check is the test above (one type-check per run, not two).
    built = run([str(BIN / "tsc"), "-p", ".", "--noCheck"])
    assert built.returncode == 0, built.stdout + built.stderr
    with running_server(tmp_path / "server") as server:
        tour = run(
            ["node", "dist/examples/tour.js"],
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "TODO_API_URL": server.base,
                "USER_ID": "ts-user",
                "TOKEN": fresh_token("ts-user"),
                "EXPIRED_TOKEN": expired_token("ts-user"),
            },
        )
    assert tour.returncode == 0, tour.stdout + tour.stderr
    seen = json.loads(tour.stdout)

    # The first call went out with the expired token, got 401, asked again and went through.
    assert seen["token_asks_after_create"] == 2
    assert seen["created"] == [1, 2, 3]
    assert seen["pages"] == [[3, 2], [1]]  # newest first, two a page, following next_cursor
    assert seen["patched_title"] == "write the spec first"
    assert seen["toggled_completed"] is True
    assert seen["pending"] == [3, 2]
    assert seen["deleted_status"] == 204
    # Safe writes: one task for two sends of one key; a write with the old ETag is a 412.
    assert seen["idempotent"]["ids"][0] == seen["idempotent"]["ids"][1]
    assert seen["idempotent"]["replayed"] == "true"
    assert seen["if_match_etag"] == '"2"'
    problems = {
        "unauthorized": (401, "invalid-token", None),
        "forbidden": (403, "forbidden", None),
        "not_found": (404, "not-found", None),
        "invalid": (422, "validation-error", ["body.title"]),
        "stale": (412, "precondition-failed", None),
    }
    for name, (status, kind, errors) in problems.items():
        problem = seen[name]
        assert (problem["status"], problem["kind"], problem["errors"]) == (status, kind, errors)
        assert problem["content_type"] == "application/problem+json"
    assert seen["token_asks"] == 2  # a good token is kept, not asked for on every call


@pytest.mark.parametrize("document", ["README.md", "docs/typescript-client.md"])
def test_next_js_snippet_is_the_module_the_page_runs(document: str) -> None:
    """The docs show examples/web/src/api.ts itself, which the browser test runs in Chromium."""
    module = (REPO / "examples" / "web" / "src" / "api.ts").read_text()
    text = (REPO / document).read_text()
    assert f"```ts\n{module}```\n" in text, f"{document} does not show api.ts as it is"
