"""settings.py, the database part: URLs, pool limits, and every variable documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from todo_api.settings import ConfigError, Settings, load_settings

pytestmark = pytest.mark.unit

GOOD = "a-perfectly-good-development-secret-0123456789"
REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    "given",
    [
        "postgres://u:p@db.example:5432/todo?sslmode=require",
        "postgresql://u:p@db.example:5432/todo?sslmode=require",
        "postgresql+psycopg://u:p@db.example:5432/todo?sslmode=require",
    ],
)
def test_managed_service_urls_use_psycopg_3(given: str) -> None:
    settings = load_settings(_env_file=None, BETTER_AUTH_SECRET=GOOD, DATABASE_URL=given)
    assert settings.database_url == "postgresql+psycopg://u:p@db.example:5432/todo?sslmode=require"


@pytest.mark.parametrize(
    "url", ["mysql://u:secretpw@h/db", "postgresql+psycopg2://u:secretpw@h/db", "todo.db"]
)
def test_unsupported_database_urls_are_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, BETTER_AUTH_SECRET=GOOD, MIGRATION_DATABASE_URL=url)
    assert "MIGRATION_DATABASE_URL" in str(caught.value)
    assert "secretpw" not in str(caught.value)


def test_migrations_use_the_app_url_unless_told_otherwise() -> None:
    app = "postgresql+psycopg://app@h/todo"
    settings = load_settings(_env_file=None, BETTER_AUTH_SECRET=GOOD, DATABASE_URL=app)
    assert settings.migration_url() == app
    owner = "postgresql+psycopg://owner@h/todo"
    settings = load_settings(
        _env_file=None, BETTER_AUTH_SECRET=GOOD, DATABASE_URL=app, MIGRATION_DATABASE_URL=owner
    )
    assert settings.migration_url() == owner


@pytest.mark.parametrize(
    "variable", ["DB_POOL_SIZE", "DB_MAX_OVERFLOW", "DB_POOL_TIMEOUT", "DB_CONNECT_TIMEOUT"]
)
def test_pool_limits_are_bounded(variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings(_env_file=None, BETTER_AUTH_SECRET=GOOD, **{variable: "-1"})


def test_prepared_statements_are_off_unless_asked_for() -> None:
    """Off by default, so that the URL of a transaction pooler works as it is."""
    default = load_settings(_env_file=None, BETTER_AUTH_SECRET=GOOD)
    assert default.pool_options().prepared_statements is False
    asked = load_settings(_env_file=None, BETTER_AUTH_SECRET=GOOD, DB_PREPARED_STATEMENTS="true")
    assert asked.pool_options().prepared_statements is True
    with pytest.raises(ConfigError, match="DB_PREPARED_STATEMENTS"):
        load_settings(_env_file=None, BETTER_AUTH_SECRET=GOOD, DB_PREPARED_STATEMENTS="maybe")


def _variables() -> list[str]:
    return sorted(str(field.alias) for field in Settings.model_fields.values())


def test_every_variable_is_in_env_example() -> None:
    example = (REPO / ".env.example").read_text()
    listed = set(re.findall(r"^([A-Z_]+)=", example, flags=re.MULTILINE))
    assert set(_variables()) <= listed


def test_every_variable_is_in_the_configuration_table() -> None:
    """docs/configuration.md describes them all in full; the README's table names them all too."""
    table = (REPO / "docs" / "configuration.md").read_text()
    rows = set(re.findall(r"^\| `([A-Z_]+)` \|", table, flags=re.MULTILINE))
    assert set(_variables()) <= rows
    readme = (REPO / "README.md").read_text()
    assert set(re.findall(r"^\| `([A-Z_]+)` \|", readme, flags=re.MULTILINE)) == set(_variables())
