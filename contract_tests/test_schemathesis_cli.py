"""Schemathesis' CLI against a live uvicorn server (`todo-api serve`, own database and secret),
configured by the repo's schemathesis.toml: the same hooks, checks and seed as in-process. Runs on
a SQLite file and, with TEST_DATABASE_URL, on a fresh PostgreSQL database.

The JUnit report lands in reports/schemathesis/junit-<database>.xml (git-ignored).
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import pg_databases
from api_fixtures import DATABASES
from live_server import REPO, running_server
from st_hooks import FUZZ_SETTINGS
from st_limits import FUZZ_LIMITS

pytestmark = pytest.mark.server

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
REPORTS = REPO / "reports" / "schemathesis"


def _cli_run(workdir: Path, database: str) -> tuple[bool, str]:
    """One CLI run against its own server and database: whether it found nothing, and the end of
    its output."""
    url = pg_databases.cluster().create_database("cli").app_url if database != "sqlite" else None
    with running_server(workdir, url, settings=FUZZ_LIMITS | FUZZ_SETTINGS) as server:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(REPO / "backend/tests"), str(REPO / "contract_tests")]
            ),
        }
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
                str(REPORTS / f"junit-{database}.xml"),
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


def test_cli_run_against_a_live_server_finds_nothing(tmp_path: Path) -> None:
    # The databases' runs at once: each is a server and a client taking turns on a core, about
    # half of one core in all, so side by side they take the time of one.
    with ThreadPoolExecutor(len(DATABASES)) as pool:
        runs = {db: pool.submit(_cli_run, tmp_path / db, db) for db in DATABASES}
        outcomes = {db: run.result() for db, run in runs.items()}
    for database, (found_nothing, summary) in outcomes.items():
        assert found_nothing, f"{database}:\n{summary}"
        assert (REPORTS / f"junit-{database}.xml").is_file()
