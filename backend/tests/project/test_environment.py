"""The suite is isolated from the developer's environment: every setting exported to junk changes
no test's outcome (the fixtures clear, or build settings without, each variable the model reads)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fixtures.api import SETTINGS_ENV
from todo_api.settings import Settings

REPO = Path(__file__).resolve().parents[3]
# In-process apps (some built at collection), the CLI and a real `todo-api serve`.
SAMPLE = (
    "contract_tests/test_parity.py",
    "backend/tests/tasks/test_routes.py",
    "backend/tests/test_cli.py",
)


def test_the_isolation_list_is_every_variable_of_the_settings_model() -> None:
    assert set(SETTINGS_ENV) == {field.alias for field in Settings.model_fields.values()}


def test_tests_pass_with_every_setting_exported_to_junk(tmp_path: Path) -> None:
    junk = dict.fromkeys(SETTINGS_ENV, "junk")
    # A .env in the working directory must not leak in either.
    (tmp_path / ".env").write_text("".join(f"{name}=junk\n" for name in SETTINGS_ENV))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(REPO)]
        + [str(REPO / path) for path in SAMPLE],
        cwd=tmp_path,
        env={**os.environ, **junk},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
