"""settings.py: a bad setting stops the server with a message that names it, never its value."""

from __future__ import annotations

import pytest

from todo_api.settings import ConfigError, load_settings

GOOD = "a-perfectly-good-development-secret-0123456789"


def problem(**env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, **env)
    return str(caught.value)


def test_missing_secret_refuses_with_a_clear_message() -> None:
    assert "BETTER_AUTH_SECRET is not set" in problem()


def test_blank_secret_counts_as_missing() -> None:
    assert "BETTER_AUTH_SECRET is not set" in problem(BETTER_AUTH_SECRET="   ")


def test_short_secret_is_refused_without_echoing_it() -> None:
    message = problem(BETTER_AUTH_SECRET="short-but-secret")
    assert "at least 32 bytes" in message
    assert "short-but-secret" not in message


def test_placeholder_secret_is_refused() -> None:
    assert "placeholder" in problem(BETTER_AUTH_SECRET="replace-me-with-a-long-random-secret")


@pytest.mark.parametrize("algorithms", ["none", "HS256,none", "RS256", "", "hs256"])
def test_unsupported_algorithms_are_refused(algorithms: str) -> None:
    assert "AUTH_ALGORITHMS" in problem(BETTER_AUTH_SECRET=GOOD, AUTH_ALGORITHMS=algorithms)


def test_algorithms_are_read_comma_separated() -> None:
    settings = load_settings(
        _env_file=None, BETTER_AUTH_SECRET=GOOD, AUTH_ALGORITHMS="HS256, HS512"
    )
    assert settings.auth_algorithms == ["HS256", "HS512"]


@pytest.mark.parametrize("origins", ["*", "localhost:3000", "http://ok.example,*"])
def test_cors_wildcard_or_bare_host_is_refused(origins: str) -> None:
    assert "CORS_ORIGINS" in problem(BETTER_AUTH_SECRET=GOOD, CORS_ORIGINS=origins)


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
