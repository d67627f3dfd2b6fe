"""settings/limits.py: budgets that several workers share or refuse, and where their counters must
live."""

from __future__ import annotations

import pytest

from todo_api.settings import ConfigError, load_settings

pytestmark = pytest.mark.unit


GOOD = "a-perfectly-good-development-secret-0123456789"


def problem(**env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, **env)
    return str(caught.value)


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
