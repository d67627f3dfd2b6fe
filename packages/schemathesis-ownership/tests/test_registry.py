"""Importing the package registers nothing; `register()` registers the checks, once."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import schemathesis
from schemathesis.checks import CHECKS
from schemathesis.auths import GLOBAL_AUTH_STORAGE
import schemathesis_ownership
ours = {"unauthenticated_replays", "cross_user_isolation", "token_owned_isolation"}
print(sorted(ours & set(CHECKS.get_all_names())), GLOBAL_AUTH_STORAGE.is_defined)
schemathesis_ownership.register()
schemathesis_ownership.register()
print(sorted(ours & set(CHECKS.get_all_names())), GLOBAL_AUTH_STORAGE.is_defined)
"""


def test_import_registers_nothing_and_register_registers_everything_once() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0] == "[] False"
    assert out[1] == (
        "['cross_user_isolation', 'token_owned_isolation', 'unauthenticated_replays'] True"
    )


def test_the_package_imports_no_application() -> None:
    probe = (
        "import schemathesis_ownership, sys; print(sorted(m for m in sys.modules if 'todo' in m))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
