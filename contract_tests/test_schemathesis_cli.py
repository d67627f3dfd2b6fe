"""Schemathesis' CLI against a live uvicorn server (`todo-api serve`, own database and secret),
configured by the repo's schemathesis.toml: the same hooks, checks and seed as in-process. Runs on
a SQLite file and, with TEST_DATABASE_URL, on a fresh PostgreSQL database.

The JUnit report lands in reports/schemathesis/junit-<database>.xml (git-ignored).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import pg_databases
from api_fixtures import DATABASES
from live_server import REPO, running_server
from st_limits import FUZZ_LIMITS

pytestmark = pytest.mark.server

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
REPORTS = REPO / "reports" / "schemathesis"


@pytest.mark.parametrize("database", DATABASES)
def test_cli_run_against_a_live_server_finds_nothing(tmp_path: Path, database: str) -> None:
    url = pg_databases.cluster().create_database("cli").app_url if database != "sqlite" else None
    with running_server(tmp_path, url, settings=FUZZ_LIMITS) as server:
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
    summary = result.stdout[-6000:]
    assert result.returncode == 0, summary + result.stderr[-2000:]
    assert "No issues found" in result.stdout or " passed" in result.stdout, summary
    assert (REPORTS / f"junit-{database}.xml").is_file()
