"""Schemathesis against the real app in-process (ASGI): every built-in check, our two security
checks (st_hooks.py), and stateful sequences through the spec's links. On a SQLite file and, with
TEST_DATABASE_URL, on PostgreSQL as deployed (application role under Row-Level Security).

Depth: ST_MAX_EXAMPLES (default: schemathesis.toml). A failure prints a curl reproduction and
Hypothesis' seed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import hypothesis
import schemathesis
from fastapi import FastAPI

import st_hooks  # noqa: F401  (registers the auth provider and the checks)
from fixtures import pg_databases
from fixtures.api import make_settings, postgres_settings
from st_hooks import FUZZ_SETTINGS
from st_limits import FUZZ_LIMITS
from st_schema import load_schema
from todo_api.db.lifecycle import prepare_database
from todo_api.main import create_app
from todo_api.state import app_state

MAX_EXAMPLES = os.environ.get("ST_MAX_EXAMPLES")
DEPTH = {"max_examples": int(MAX_EXAMPLES)} if MAX_EXAMPLES else {}


def _app(database: str) -> FastAPI:
    """One app per database for the whole module (Schemathesis binds the schema at import)."""
    data = Path(tempfile.mkdtemp(prefix="st-"))
    if database == "sqlite":
        settings = make_settings(data, **FUZZ_LIMITS, **FUZZ_SETTINGS)
    else:
        database_ = pg_databases.cluster().create_database("st")
        settings = postgres_settings(data, database_, **FUZZ_LIMITS, **FUZZ_SETTINGS)
    app = create_app(settings)
    prepare_database(app_state(app).database.engine, settings.db_startup_timeout)
    return app


def _contract_tests(app: FastAPI) -> tuple[Any, Any]:
    schema = load_schema(app)

    @schema.parametrize()
    @hypothesis.settings(**DEPTH)
    def test(case: schemathesis.Case) -> None:
        case.call_and_validate()

    workflow = schema.as_state_machine()
    workflow.TestCase.settings = hypothesis.settings(
        max_examples=int(MAX_EXAMPLES or 30), stateful_step_count=10, deadline=None
    )
    return test, workflow.TestCase


test_every_operation_honours_the_contract, TestStatefulWorkflows = _contract_tests(_app("sqlite"))

if pg_databases.ADMIN_URL:
    test_every_operation_honours_the_contract_on_postgresql, TestStatefulWorkflowsOnPostgresql = (
        _contract_tests(_app("postgresql"))
    )
