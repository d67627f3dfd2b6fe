"""settings/auth.py: the key sources, the algorithms and the claims' settings; a bad one is refused
naming it, never its value."""

from __future__ import annotations

import pytest

from todo_api.settings import ConfigError, load_settings

pytestmark = pytest.mark.unit


GOOD = "a-perfectly-good-development-secret-0123456789"


def problem(**env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, **env)
    return str(caught.value)


def test_missing_secret_refuses_with_a_clear_message() -> None:
    assert "BETTER_AUTH_SECRET is not set" in problem()


def test_blank_secret_is_refused() -> None:
    assert "BETTER_AUTH_SECRET is empty" in problem(BETTER_AUTH_SECRET="   ")


def test_short_secret_is_refused_without_echoing_it() -> None:
    message = problem(BETTER_AUTH_SECRET="short-but-secret")
    assert "at least 32 bytes" in message
    assert "short-but-secret" not in message


def test_placeholder_secret_is_refused() -> None:
    assert "placeholder" in problem(BETTER_AUTH_SECRET="replace-me-with-a-long-random-secret")


@pytest.mark.parametrize("algorithms", ["none", "HS256,none", "RS256", "hs256", "ES384"])
def test_unsupported_algorithms_are_refused(algorithms: str) -> None:
    assert "AUTH_ALGORITHMS" in problem(BETTER_AUTH_SECRET=GOOD, AUTH_ALGORITHMS=algorithms)


def test_algorithms_are_read_comma_separated() -> None:
    settings = load_settings(
        _env_file=None, BETTER_AUTH_SECRET=GOOD, AUTH_ALGORITHMS="HS256, HS512"
    )
    assert settings.auth_algorithms == ["HS256", "HS512"]


def test_default_algorithms_follow_the_key_sources() -> None:
    assert load_settings(_env_file=None, BETTER_AUTH_SECRET=GOOD).auth_algorithms == ["HS256"]
    jwks_only = load_settings(_env_file=None, BETTER_AUTH_URL="http://127.0.0.1:3000")
    assert jwks_only.auth_algorithms == ["EdDSA", "ES256", "ES512", "RS256", "PS256"]
    both = load_settings(
        _env_file=None, BETTER_AUTH_SECRET=GOOD, BETTER_AUTH_URL="http://127.0.0.1:3000"
    )
    assert both.auth_algorithms[0] == "HS256"
    assert len(both.auth_algorithms) == 6


def test_better_auth_url_gives_jwks_issuer_and_audience() -> None:
    settings = load_settings(_env_file=None, BETTER_AUTH_URL="https://auth.example.com/app/")
    assert settings.auth_jwks_url == "https://auth.example.com/app/api/auth/jwks"
    # Better Auth's plugin stamps iss and aud with the origin of its baseURL.
    assert settings.auth_issuer == settings.auth_audience == "https://auth.example.com"


def test_explicit_jwks_settings_win() -> None:
    settings = load_settings(
        _env_file=None,
        BETTER_AUTH_URL="https://auth.example.com",
        AUTH_JWKS_URL="https://keys.example.com/jwks.json",
        AUTH_ISSUER="https://issuer.example.com",
        AUTH_AUDIENCE="tasks-api",
    )
    assert settings.auth_jwks_url == "https://keys.example.com/jwks.json"
    assert (settings.auth_issuer, settings.auth_audience) == (
        "https://issuer.example.com",
        "tasks-api",
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AUTH_ALGORITHMS": "EdDSA"}, "asymmetric algorithm but neither"),
        ({"BETTER_AUTH_URL": "http://127.0.0.1:3000", "AUTH_ALGORITHMS": "HS256"}, "HS* algorithm"),
        ({"BETTER_AUTH_URL": "ftp://auth.example"}, "BETTER_AUTH_URL must be an http(s) URL"),
        ({"AUTH_JWKS_URL": "not a url"}, "AUTH_JWKS_URL must be an http(s) URL"),
        (
            {"BETTER_AUTH_SECRET_PREVIOUS": "x" * 40, "BETTER_AUTH_URL": "http://a.example"},
            "without",
        ),
    ],
    ids=["eddsa-without-jwks", "hs-without-secret", "bad-url", "bad-jwks-url", "previous-alone"],
)
def test_inconsistent_key_settings_are_refused(env: dict[str, str], message: str) -> None:
    if "BETTER_AUTH_URL" not in env and "AUTH_JWKS_URL" not in env:
        env = {**env, "BETTER_AUTH_SECRET": GOOD}
    assert message in problem(**env)


def test_previous_secrets_are_read_and_checked() -> None:
    previous = "an-older-secret-still-valid-during-rotation-0123"
    settings = load_settings(
        _env_file=None, BETTER_AUTH_SECRET=GOOD, BETTER_AUTH_SECRET_PREVIOUS=f" {previous} ,"
    )
    assert settings.secret_keys() == (GOOD.encode(), previous.encode())
    assert previous not in repr(settings)
    message = problem(BETTER_AUTH_SECRET=GOOD, BETTER_AUTH_SECRET_PREVIOUS="tiny")
    assert "BETTER_AUTH_SECRET_PREVIOUS is too short" in message
    assert "tiny" not in message


def test_jwks_keys_may_not_go_stale_between_two_scheduled_refreshes() -> None:
    url = "http://127.0.0.1:3000"
    message = problem(
        BETTER_AUTH_URL=url, AUTH_JWKS_REFRESH_SECONDS="600", AUTH_JWKS_MAX_STALE_SECONDS="600"
    )
    assert "AUTH_JWKS_MAX_STALE_SECONDS must be longer than AUTH_JWKS_REFRESH_SECONDS" in message
    settings = load_settings(_env_file=None, BETTER_AUTH_URL=url)
    assert settings.auth_jwks_max_stale_seconds == 86400
