"""settings/service.py: every concern read at once, from the environment and `.env`, and no secret
in its repr."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from todo_api.settings import load_settings

pytestmark = pytest.mark.unit

GOOD = "a-perfectly-good-development-secret-0123456789"


def test_environment_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    with open(".env", "w") as dotenv:  # cwd is the test's tmp_path
        dotenv.write(f"BETTER_AUTH_SECRET={GOOD}\nCORS_ORIGINS=http://localhost:3000/\n")
    monkeypatch.setenv("AUTH_LEEWAY_SECONDS", "5")
    settings = load_settings()
    assert settings.secret_bytes() == GOOD.encode()
    assert settings.cors_origins == ["http://localhost:3000"]
    assert settings.auth_leeway_seconds == 5


def test_blank_values_as_in_env_example_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    with open(".env", "w") as dotenv:
        dotenv.write(f"BETTER_AUTH_SECRET={GOOD}\nAUTH_ISSUER=\nAUTH_AUDIENCE=\nCORS_ORIGINS=\n")
    settings = load_settings()
    assert (settings.auth_issuer, settings.auth_audience, settings.cors_origins) == (None, None, [])


def test_secret_is_not_in_the_settings_repr() -> None:
    settings = load_settings(_env_file=None, BETTER_AUTH_SECRET=GOOD)
    assert GOOD not in repr(settings)
    assert GOOD not in str(settings.model_dump())


# What reading the settings may load: the validation library, the JWT library (the algorithm
# names the auth settings check against live with the verifier) and the settings' own modules.
# The components (SQLAlchemy, FastAPI, Redis, httpx, ...) are imported where a concern builds
# one, so a refused `serve` and `migrate`'s URL do not pay for them (research F5).
SETTINGS_MAY_LOAD = frozenset(
    {
        "annotated_types",
        "cryptography",
        "dotenv",
        "jwt",
        "pydantic",
        "pydantic_core",
        "pydantic_settings",
        "typing_extensions",
        "typing_inspection",
        "todo_api",
        "todo_api.auth",
        "todo_api.auth.tokens",
        "todo_api.ratelimit",
        "todo_api.ratelimit.policy",
    }
)
_IMPORT_AND_LIST_MODULES = """
import json, sys
before = set(sys.modules)
import todo_api.settings
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_reading_the_settings_loads_no_component() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_AND_LIST_MODULES],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded: list[str] = json.loads(done.stdout)
    outside = sorted(
        {
            module if module.startswith("todo_api.") else module.partition(".")[0]
            for module in loaded
            if not module.startswith(("todo_api.settings.", "_"))
            and module != "todo_api.settings"
            and module.partition(".")[0] not in sys.stdlib_module_names
        }
        - SETTINGS_MAY_LOAD
    )
    assert not outside, f"import todo_api.settings loaded {outside}"
