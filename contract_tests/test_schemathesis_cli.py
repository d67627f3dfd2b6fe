"""Schemathesis' CLI against a live uvicorn server (`todo-api serve`, own database and secret),
configured by the repo's schemathesis.toml: the same hooks, checks and seed as in-process. Runs on
a SQLite file and, with TEST_DATABASE_URL, on a fresh PostgreSQL database.

Each database's run is two: the stateless phases, and the stateful one (each with a server and a
database of its own), so that a parallel `make test` spreads the longest work of the suite over
its workers. The JUnit reports land in reports/schemathesis/junit-<database>-<phases>.xml
(git-ignored).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures import pg_databases
from fixtures.api import DATABASES
from fixtures.live_server import REPO, running_server
from st_hooks import FUZZ_SETTINGS
from st_limits import FUZZ_LIMITS

pytestmark = pytest.mark.server

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
REPORTS = REPO / "reports" / "schemathesis"


# Every phase of schemathesis.toml, split in two runs of about the same length.
PHASES = {"stateless": "examples,coverage,fuzzing", "stateful": "stateful"}


def _cli_env() -> dict[str, str]:
    """The CLI's environment: our hooks and the fixtures they share with the tests importable."""
    paths = [str(REPO / "backend/tests"), str(REPO / "contract_tests")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def _cli_run(workdir: Path, database: str, phases: str) -> tuple[bool, str]:
    """One CLI run of `phases` against its own server and database: whether it found nothing,
    and the end of its output."""
    url = pg_databases.cluster().create_database("cli").app_url if database != "sqlite" else None
    with running_server(workdir, url, settings=FUZZ_LIMITS | FUZZ_SETTINGS) as server:
        env = _cli_env()
        depth = os.environ.get("ST_MAX_EXAMPLES")
        result = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                str(REPO / "openapi/openapi.yaml"),
                "--url",
                server.base,
                "--report",
                "junit",
                "--report-junit-path",
                str(REPORTS / f"junit-{database}-{phases}.xml"),
                "--phases",
                PHASES[phases],
                *(["--max-examples", depth] if depth else []),
            ],
            cwd=REPO,  # schemathesis.toml is found here
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    found_nothing = "No issues found" in result.stdout or " passed" in result.stdout
    return result.returncode == 0 and found_nothing, result.stdout[-6000:] + result.stderr[-2000:]


@pytest.mark.parametrize("phases", PHASES)
@pytest.mark.parametrize("database", DATABASES)
def test_cli_run_against_a_live_server_finds_nothing(
    tmp_path: Path, database: str, phases: str
) -> None:
    found_nothing, summary = _cli_run(tmp_path, database, phases)
    assert found_nothing, f"{database}, {phases}:\n{summary}"
    assert (REPORTS / f"junit-{database}-{phases}.xml").is_file()


# The app's layers, which the CLI process never serves: importing them would be most of each
# CLI run's start-up (research F4).
APP_LAYERS = ("todo_api", "fastapi", "sqlalchemy", "alembic")


def test_the_cli_hooks_import_nothing_of_the_app() -> None:
    listed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys, st_hooks; print(json.dumps(sorted(sys.modules)))",
        ],
        env=_cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    modules = json.loads(listed.stdout)
    loaded = sorted({top for top in APP_LAYERS for m in modules if f"{m}.".startswith(f"{top}.")})
    assert not loaded, f"st_hooks imports {loaded}"
