"""settings.py: a bad setting stops the server with a message that names it, never its value."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import jwt
import pytest

from todo_api.settings import ConfigError, find_env_file, load_settings, project_root

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


REDIS_URL = "redis://127.0.0.1:6379/0"


def test_in_memory_budgets_with_several_workers_are_refused_naming_the_store() -> None:
    settings = load_settings(_env_file=None, BETTER_AUTH_SECRET=GOOD, RATE_LIMIT="60/minute")
    settings.check_processes(1)
    with pytest.raises(ConfigError) as caught:
        settings.check_processes(2)
    message = str(caught.value)
    assert "RATE_LIMIT_STORAGE_URL" in message
    assert "RATE_LIMIT_PER_PROCESS=true" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "env",
    [
        {"RATE_LIMIT_STORAGE_URL": REDIS_URL},
        {"RATE_LIMIT_PER_PROCESS": "true"},
        {"RATE_LIMIT": "off", "RATE_LIMIT_WRITES": "off", "RATE_LIMIT_AUTH_FAILURES": "off"},
    ],
    ids=["shared-in-redis", "per-process-chosen", "no-budget"],
)
def test_several_workers_start_with_shared_chosen_or_no_budgets(env: dict[str, str]) -> None:
    load_settings(_env_file=None, BETTER_AUTH_SECRET=GOOD, **env).check_processes(4)


@pytest.mark.parametrize("off", ["RATE_LIMIT", "RATE_LIMIT_WRITES", "RATE_LIMIT_AUTH_FAILURES"])
def test_any_one_budget_in_memory_is_enough_to_refuse_several_workers(off: str) -> None:
    policies = {"RATE_LIMIT": "off", "RATE_LIMIT_WRITES": "off", "RATE_LIMIT_AUTH_FAILURES": "off"}
    on = {**policies, off: "10/minute"}
    settings = load_settings(_env_file=None, BETTER_AUTH_SECRET=GOOD, **on)
    with pytest.raises(ConfigError):
        settings.check_processes(2)


def test_per_process_budgets_are_refused_with_shared_counters_and_must_be_a_boolean() -> None:
    message = problem(
        BETTER_AUTH_SECRET=GOOD, RATE_LIMIT_PER_PROCESS="true", RATE_LIMIT_STORAGE_URL=REDIS_URL
    )
    assert "RATE_LIMIT_PER_PROCESS=true applies to memory:// counters only" in message
    assert "RATE_LIMIT_PER_PROCESS" in problem(
        BETTER_AUTH_SECRET=GOOD, RATE_LIMIT_PER_PROCESS="maybe"
    )


def test_a_required_rate_limit_store_must_be_redis() -> None:
    message = problem(BETTER_AUTH_SECRET=GOOD, RATE_LIMIT_STORE_REQUIRED="true")
    assert "RATE_LIMIT_STORE_REQUIRED" in message
    assert "RATE_LIMIT_STORAGE_URL" in message
    settings = load_settings(
        _env_file=None,
        BETTER_AUTH_SECRET=GOOD,
        RATE_LIMIT_STORAGE_URL="redis://:pw@127.0.0.1:6379/0",
        RATE_LIMIT_STORE_REQUIRED="true",
    )
    assert settings.rate_limit_store_required is True
    assert load_settings(_env_file=None, BETTER_AUTH_SECRET=GOOD).rate_limit_store_required is False


def test_rate_limit_store_required_is_a_boolean() -> None:
    message = problem(
        BETTER_AUTH_SECRET=GOOD,
        RATE_LIMIT_STORAGE_URL="redis://127.0.0.1:6379/0",
        RATE_LIMIT_STORE_REQUIRED="sometimes",
    )
    assert "RATE_LIMIT_STORE_REQUIRED" in message


# Which .env the `todo-api` command reads (find_env_file)

REPO = Path(__file__).resolve().parents[3]


def test_the_checkout_is_found_from_the_package_not_the_working_directory() -> None:
    assert project_root() == REPO  # cwd is the test's tmp_path, outside the checkout


def test_a_folder_of_another_project_is_no_checkout(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "something-else"\n')
    (tmp_path / "pkg").mkdir()
    assert project_root(tmp_path / "pkg" / "module.py") is None


def test_env_file_is_the_working_directory_s_then_the_checkout_s(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    assert find_env_file(root=checkout) is None
    (checkout / ".env").write_text(f"BETTER_AUTH_SECRET={GOOD}\n")
    assert find_env_file(root=checkout) == checkout / ".env"
    Path(".env").write_text(f"BETTER_AUTH_SECRET={GOOD}\n")  # cwd is tmp_path
    assert find_env_file(root=checkout) == Path(".env")


def test_an_env_file_named_is_read_and_must_exist(tmp_path: Path) -> None:
    named = tmp_path / "elsewhere.env"
    named.write_text(f"BETTER_AUTH_SECRET={GOOD}\nAUTH_LEEWAY_SECONDS=7\n")
    Path(".env").write_text("AUTH_LEEWAY_SECONDS=9\n")  # not read: the named file replaces it
    settings = load_settings(env_file=find_env_file(str(named)))
    assert settings.secret_bytes() == GOOD.encode()
    assert settings.auth_leeway_seconds == 7
    with pytest.raises(ConfigError, match="--env-file"):
        find_env_file(str(tmp_path / "missing.env"))


def test_token_and_version_from_outside_the_checkout(tmp_path: Path) -> None:
    named = tmp_path / "dev.env"
    named.write_text(f"BETTER_AUTH_SECRET={GOOD}\n")
    todo_api = str(Path(sys.executable).with_name("todo-api"))
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    token = subprocess.run(
        [todo_api, "--env-file", str(named), "token", "--sub", "demo-user"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert token.returncode == 0, token.stderr
    claims = jwt.decode(token.stdout.strip(), GOOD, algorithms=["HS256"])
    assert claims["sub"] == "demo-user"
    version = subprocess.run(
        [todo_api, "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert version.stdout.strip() == f"todo-api {importlib.metadata.version('todo-api')}"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert importlib.metadata.version("todo-api") == project["version"]
