"""Schemathesis against the real app in-process (ASGI): every built-in check, our two security
checks (st_hooks.py), and stateful sequences through the spec's links.

Depth: ST_MAX_EXAMPLES (default: schemathesis.toml). A failure prints a curl reproduction and
Hypothesis' seed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import hypothesis
import schemathesis

import st_hooks  # noqa: F401  (registers the auth provider and the checks)
from api_fixtures import make_settings
from st_schema import load_schema
from todo_api.schema import upgrade
from todo_api.main import create_app

# One app on a real SQLite file for the whole module (Schemathesis binds the schema at import).
_DATA = Path(tempfile.mkdtemp(prefix="st-"))
APP = create_app(make_settings(_DATA))
upgrade(APP.state.engine)

schema = load_schema(APP)

MAX_EXAMPLES = os.environ.get("ST_MAX_EXAMPLES")
DEPTH = {"max_examples": int(MAX_EXAMPLES)} if MAX_EXAMPLES else {}


@schema.parametrize()
@hypothesis.settings(**DEPTH)
def test_every_operation_honours_the_contract(case: schemathesis.Case) -> None:
    case.call_and_validate()


Workflow = schema.as_state_machine()
Workflow.TestCase.settings = hypothesis.settings(
    max_examples=int(MAX_EXAMPLES or 30), stateful_step_count=10, deadline=None
)
TestStatefulWorkflows = Workflow.TestCase
