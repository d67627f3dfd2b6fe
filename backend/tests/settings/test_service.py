"""settings/service.py: every concern read at once, from the environment and `.env`, and no secret
in its repr."""

from __future__ import annotations

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
