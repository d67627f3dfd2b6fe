"""docs/deploying.md's PostgreSQL set-up, run as written: the roles an administrator creates, the
migration the owner runs, and the local trial from `createdb` to a serving instance that connects
as the application role. (The pooler, workers and instances recipes run in test_pooler.py and
test_workers.py.)"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from fixtures import pg_databases
from fixtures.api import SECRET, mint
from fixtures.doc_recipes import recipe
from fixtures.live_server import child_env, free_port, running_server, write_dotenv

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(
        not pg_databases.ADMIN_URL, reason="PostgreSQL-only: set TEST_DATABASE_URL (`.ci/run` does)"
    ),
]

VENV = Path(sys.executable).parent.parent


def _libpq(database: str) -> str:
    """The administrator's URL of `database` as psql reads it (no `+psycopg`)."""
    assert pg_databases.ADMIN_URL
    url = make_url(pg_databases.ADMIN_URL).set(drivername="postgresql", database=database)
    return url.render_as_string(hide_password=False)


def _admin(sql: str, **parameters: str) -> list[tuple[object, ...]]:
    assert pg_databases.ADMIN_URL
    engine = create_engine(pg_databases.ADMIN_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        result = connection.execute(text(sql), parameters)
        rows = [tuple(row) for row in result] if result.returns_rows else []
    engine.dispose()
    return rows


@contextmanager
def _names() -> Iterator[dict[str, str]]:
    """A database and two roles of this test's own, dropped at the end."""
    tag = secrets.token_hex(4)
    names = {"DB": f"todo_recipe_{tag}", "OWNER": f"todo_owner_{tag}", "APP": f"todo_app_{tag}"}
    try:
        yield names
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{names["DB"]}" WITH (FORCE)')
        for role in (names["APP"], names["OWNER"]):
            _admin(f'DROP ROLE IF EXISTS "{role}"')


def _bash(script: str, cwd: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = child_env() | {"PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ['PATH']}", **variables}
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _roundtrip(base: str) -> None:
    user = "recipe-user"
    headers = {"Authorization": f"Bearer {mint(user)}"}
    with httpx.Client(base_url=base, timeout=10) as http:
        created = http.post(
            f"/api/{user}/tasks", json={"title": "from the recipe"}, headers=headers
        )
        assert created.status_code == 201, created.text
        listed = http.get(f"/api/{user}/tasks", headers=headers)
        assert [task["id"] for task in listed.json()["items"]] == [created.json()["id"]]


def _application_roles(database: str) -> set[str]:
    rows = _admin(
        "SELECT usename FROM pg_stat_activity "
        "WHERE datname = :db AND application_name = 'todo-api'",
        db=database,
    )
    return {str(row[0]) for row in rows}


def test_the_roles_and_migrate_recipes_set_up_a_database_the_app_serves(tmp_path: Path) -> None:
    with _names() as names:
        _admin(f'CREATE DATABASE "{names["DB"]}"')
        passwords = {"OWNER_PASSWORD": secrets.token_hex(8), "APP_PASSWORD": secrets.token_hex(8)}
        host = make_url(pg_databases.ADMIN_URL or "").host or "127.0.0.1"
        variables = {
            "ADMIN_URL": _libpq(names["DB"]),
            "DATABASE": names["DB"],
            "OWNER": names["OWNER"],
            "APP": names["APP"],
            "DB_HOST": host,
            **passwords,
        }
        roles = _bash(recipe("roles"), tmp_path, **variables)
        assert roles.returncode == 0, roles.stderr
        migrated = _bash(recipe("migrate"), tmp_path, **variables)
        assert migrated.returncode == 0, migrated.stderr
        assert "is at schema revision" in migrated.stdout

        rows = _admin(
            "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles "
            "WHERE rolname IN (:owner, :app) ORDER BY rolname",
            owner=names["OWNER"],
            app=names["APP"],
        )
        assert [(name, False, False) for name in sorted((names["APP"], names["OWNER"]))] == rows
        app_url = f"postgresql://{names['APP']}:{passwords['APP_PASSWORD']}@{host}/{names['DB']}"
        with running_server(tmp_path / "served", app_url) as served:
            _roundtrip(served.base)
            assert _application_roles(names["DB"]) == {names["APP"]}


def test_the_local_trial_recipe_serves_as_the_application_role(tmp_path: Path) -> None:
    (tmp_path / ".venv").symlink_to(VENV)  # "from the repository after `make install`"
    write_dotenv(tmp_path)  # the secret `make run` would have written; DATABASE_URL is the recipe's
    port = free_port()
    with _names() as names:
        env = child_env() | {**names, "PORT": str(port)}
        with (tmp_path / "local.log").open("w") as log:
            process = subprocess.Popen(
                ["bash", "-euo", "pipefail", "-c", recipe("local")],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,  # bash and the server stop together
            )
        try:
            assert process.stdout is not None
            for line in process.stdout:  # the demo curl: the server accepts connections
                if line.strip().startswith("curl "):
                    break
            else:
                pytest.fail(f"the recipe ended early:\n{(tmp_path / 'local.log').read_text()}")
            _roundtrip(f"http://127.0.0.1:{port}")
            assert _application_roles(names["DB"]) == {names["APP"]}
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
            if process.stdout is not None:
                process.stdout.close()
    assert SECRET in (tmp_path / ".env").read_text()
