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

from fixtures.api import SECRET
from fixtures.live_server import REPO, running_server
from fixtures.node_tools import npm_ci

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
    # The tour imports "@todo-api/client" by name: the committed dist/ (package.json `exports`).
    built = run([str(BIN / "tsc"), "-p", ".", "--noCheck"])
    assert built.returncode == 0, built.stdout + built.stderr
    with running_server(tmp_path / "server") as server:
        tour = run(
            ["node", "build/examples/tour.js"],
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


def test_committed_build_is_what_the_source_makes(client_installed: None, tmp_path: Path) -> None:
    """dist/ ships in the repository (nothing is built on install): it must be today's build."""
    built = run([str(BIN / "tsc"), "-p", "tsconfig.build.json", "--outDir", str(tmp_path)])
    assert built.returncode == 0, built.stdout + built.stderr
    (tmp_path / "schema.d.ts").write_bytes((CLIENT / "src" / "schema.d.ts").read_bytes())
    shipped = {p.name: p.read_bytes() for p in (CLIENT / "dist").iterdir()}
    fresh = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert shipped == fresh, "clients/typescript/dist is stale: run `npm run build` there"
    manifest = json.loads((CLIENT / "package.json").read_text())
    assert manifest["files"] == ["dist"]
    assert manifest["exports"]["."] == {"types": "./dist/index.d.ts", "default": "./dist/index.js"}


def documented_install() -> str:
    """The sh block of docs/typescript-client.md's "Install" section, as a reader copies it."""
    text = (REPO / "docs" / "typescript-client.md").read_text()
    section = text.split("## Install", 1)[1].split("\n## ", 1)[0]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


CONSUMER_TS = """\
import { createTodoClient, type Problem, type Task } from "@todo-api/client";

const api = createTodoClient({ baseUrl: "http://127.0.0.1:8000", token: async () => "t" });
const user_id = "demo-user";
const { data, error } = await api.POST("/api/{user_id}/tasks", {
  params: { path: { user_id } },
  body: { title: "typed" },
});
const task: Task | undefined = data;
const problem: Problem | undefined = error;
// @ts-expect-error: a task needs a title
await api.POST("/api/{user_id}/tasks", { params: { path: { user_id } }, body: {} });
// @ts-expect-error: no such status
await api.GET("/api/{user_id}/tasks", { params: { path: { user_id }, query: { status: "done" } } });
export { problem, task };
"""

CONSUMER_MJS = """\
import { createTodoClient } from "@todo-api/client";

const api = createTodoClient({ baseUrl: process.env.API, token: async () => process.env.T });
const user_id = process.env.U;
const created = await api.POST("/api/{user_id}/tasks", {
  params: { path: { user_id } },
  body: { title: "from a fresh project" },
});
const listed = await api.GET("/api/{user_id}/tasks", { params: { path: { user_id } } });
console.log(JSON.stringify({
  created: created.response.status,
  titles: listed.data.items.map((task) => task.title),
}));
"""


@pytest.mark.server
def test_client_installs_as_documented_in_a_fresh_project(
    client_installed: None, tmp_path: Path
) -> None:
    """A new user's first hour: the documented lines in an empty ESM project next to a
    `todo-api` folder, only the npm registry; then types, and a round trip with a live server."""
    (tmp_path / "todo-api").symlink_to(REPO, target_is_directory=True)
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "app", "private": true, "type": "module"}\n')
    install = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", documented_install()],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    installed = app / "node_modules" / "@todo-api" / "client"
    # A copy with its own dependency beside it, not a link back into the checkout (whose
    # node_modules a new user does not have).
    assert not installed.is_symlink()
    assert (app / "node_modules" / "openapi-fetch" / "package.json").is_file()

    (app / "check.ts").write_text(CONSUMER_TS)
    tsc = [str(BIN / "tsc"), "--strict", "--noEmit", "--target", "es2022", "--lib", "es2022,dom"]
    checked = subprocess.run(
        [*tsc, "--module", "nodenext", "--moduleResolution", "nodenext", "check.ts"],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    (app / "roundtrip.mjs").write_text(CONSUMER_MJS)
    with running_server(tmp_path / "server") as server:
        trip = subprocess.run(
            ["node", "roundtrip.mjs"],
            cwd=app,
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "API": server.base,
                "U": "fresh-user",
                "T": fresh_token("fresh-user"),
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert trip.returncode == 0, trip.stdout + trip.stderr
    assert json.loads(trip.stdout) == {"created": 201, "titles": ["from a fresh project"]}


@pytest.mark.parametrize("document", ["README.md", "docs/typescript-client.md"])
def test_next_js_snippet_is_the_module_the_page_runs(document: str) -> None:
    """The docs show examples/web/src/api.ts itself, which the browser test runs in Chromium."""
    module = (REPO / "examples" / "web" / "src" / "api.ts").read_text()
    text = (REPO / document).read_text()
    assert f"```ts\n{module}```\n" in text, f"{document} does not show api.ts as it is"
