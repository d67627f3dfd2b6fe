# ruff: noqa: E501 (each refusal is pinned as one literal, as an operator reads it)
"""The settings' refusals, word for word, and the environment names the service reads.

Pinned from the single-class settings.py (bd71cfe) before it was cut into one module per concern:
an operator's scripts, runbooks and alerts quote these names and messages, so the split must
change none of them. A deliberate change of a message edits its line here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from todo_api.settings import (
    AuthSettings,
    ConfigError,
    CorsSettings,
    DatabaseSettings,
    LimitSettings,
    ObservabilitySettings,
    ServerSettings,
    Settings,
    TaskSettings,
    load_settings,
)

pytestmark = pytest.mark.unit

GOOD = "a-perfectly-good-development-secret-0123456789"
REDIS = "redis://127.0.0.1:6379/0"
REPO = Path(__file__).resolve().parents[3]

# Every variable the service read before the split, in the order of .env.example.
NAMES = frozenset(
    {
        "BETTER_AUTH_SECRET", "BETTER_AUTH_SECRET_PREVIOUS", "BETTER_AUTH_URL", "AUTH_JWKS_URL",
        "AUTH_JWKS_REFRESH_SECONDS", "AUTH_JWKS_MIN_REFETCH_SECONDS", "AUTH_JWKS_TIMEOUT_SECONDS",
        "AUTH_JWKS_MAX_STALE_SECONDS", "AUTH_ALGORITHMS", "AUTH_ISSUER", "AUTH_AUDIENCE",
        "AUTH_LEEWAY_SECONDS", "DATABASE_URL", "MIGRATION_DATABASE_URL", "DB_POOL_SIZE",
        "DB_MAX_OVERFLOW", "DB_POOL_TIMEOUT", "DB_CONNECT_TIMEOUT", "DB_STARTUP_TIMEOUT",
        "DB_PREPARED_STATEMENTS", "RATE_LIMIT", "RATE_LIMIT_WRITES", "RATE_LIMIT_AUTH_FAILURES",
        "MAX_TASKS_PER_USER", "REQUIRE_IF_MATCH", "IDEMPOTENCY_TTL_SECONDS",
        "RATE_LIMIT_STORAGE_URL", "RATE_LIMIT_PER_PROCESS", "RATE_LIMIT_STORE_REQUIRED",
        "TRUSTED_PROXIES", "CORS_ORIGINS", "MAX_BODY_BYTES", "LOG_LEVEL", "MAX_HEADER_BYTES",
        "HEADER_TIMEOUT_SECONDS", "BODY_TIMEOUT_SECONDS", "KEEP_ALIVE_SECONDS",
        "SHUTDOWN_GRACE_SECONDS", "METRICS_PORT", "METRICS_HOST",
    }
)  # fmt: skip
CONCERNS = (
    DatabaseSettings,
    AuthSettings,
    LimitSettings,
    TaskSettings,
    CorsSettings,
    ServerSettings,
    ObservabilitySettings,
)


def names(model: type[BaseSettings]) -> set[str]:
    return {str(field.alias) for field in model.model_fields.values()}


def test_the_service_reads_the_same_environment_names_as_before_the_split() -> None:
    assert names(Settings) == NAMES
    example = (REPO / ".env.example").read_text(encoding="utf-8")
    assert set(re.findall(r"^([A-Z_]+)=", example, flags=re.MULTILINE)) == NAMES


def test_each_name_belongs_to_exactly_one_concern() -> None:
    owned = [names(concern) for concern in CONCERNS]
    assert sum(len(own) for own in owned) == len(NAMES)
    assert set().union(*owned) == NAMES


REFUSALS = [
    (
        "no-key-source",
        {},
        [
            "BETTER_AUTH_SECRET is not set (nor BETTER_AUTH_URL / AUTH_JWKS_URL): the server needs a key source. Use the secret your Better Auth server signs with (`make run` writes a generated dev secret into .env), or its URL for JWKS tokens"
        ],
    ),
    ("blank-secret", {"BETTER_AUTH_SECRET": "   "}, ["BETTER_AUTH_SECRET is empty"]),
    (
        "short-secret",
        {"BETTER_AUTH_SECRET": "short-but-secret"},
        [
            "BETTER_AUTH_SECRET is too short: it needs at least 32 bytes (`todo-api secret` prints a suitable one)"
        ],
    ),
    (
        "placeholder-secret",
        {"BETTER_AUTH_SECRET": "changeme"},
        ["BETTER_AUTH_SECRET is a placeholder: generate one (`todo-api secret`)"],
    ),
    (
        "short-previous",
        {"BETTER_AUTH_SECRET": GOOD, "BETTER_AUTH_SECRET_PREVIOUS": "tiny"},
        [
            "BETTER_AUTH_SECRET_PREVIOUS is too short: it needs at least 32 bytes (`todo-api secret` prints a suitable one)"
        ],
    ),
    (
        "previous-alone",
        {
            "BETTER_AUTH_SECRET_PREVIOUS": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "BETTER_AUTH_URL": "http://a.example",
        },
        ["BETTER_AUTH_SECRET_PREVIOUS is set without BETTER_AUTH_SECRET"],
    ),
    (
        "bad-auth-url",
        {"BETTER_AUTH_URL": "ftp://auth.example"},
        ["BETTER_AUTH_URL must be an http(s) URL such as http://localhost:3000"],
    ),
    (
        "bad-jwks-url",
        {"AUTH_JWKS_URL": "not a url"},
        ["AUTH_JWKS_URL must be an http(s) URL such as http://localhost:3000"],
    ),
    (
        "unknown-algorithm",
        {"BETTER_AUTH_SECRET": GOOD, "AUTH_ALGORITHMS": "HS256,none"},
        [
            "AUTH_ALGORITHMS: AUTH_ALGORITHMS has unsupported entries ['none']: choose from ['ES256', 'ES512', 'EdDSA', 'HS256', 'HS384', 'HS512', 'PS256', 'RS256'] ('none' is never accepted)"
        ],
    ),
    (
        "hs-without-secret",
        {"BETTER_AUTH_URL": "http://127.0.0.1:3000", "AUTH_ALGORITHMS": "HS256"},
        ["AUTH_ALGORITHMS names an HS* algorithm but BETTER_AUTH_SECRET is not set"],
    ),
    (
        "asymmetric-without-jwks",
        {"BETTER_AUTH_SECRET": GOOD, "AUTH_ALGORITHMS": "EdDSA"},
        [
            "AUTH_ALGORITHMS names an asymmetric algorithm but neither BETTER_AUTH_URL nor AUTH_JWKS_URL is set"
        ],
    ),
    (
        "stale-before-refresh",
        {
            "BETTER_AUTH_URL": "http://127.0.0.1:3000",
            "AUTH_JWKS_REFRESH_SECONDS": "600",
            "AUTH_JWKS_MAX_STALE_SECONDS": "600",
        },
        [
            "AUTH_JWKS_MAX_STALE_SECONDS: AUTH_JWKS_MAX_STALE_SECONDS must be longer than AUTH_JWKS_REFRESH_SECONDS: keys would go stale between two scheduled refreshes"
        ],
    ),
    (
        "jwks-refresh-zero",
        {"BETTER_AUTH_SECRET": GOOD, "AUTH_JWKS_REFRESH_SECONDS": "0"},
        ["AUTH_JWKS_REFRESH_SECONDS: Input should be greater than or equal to 1"],
    ),
    (
        "jwks-timeout-zero",
        {"BETTER_AUTH_SECRET": GOOD, "AUTH_JWKS_TIMEOUT_SECONDS": "0"},
        ["AUTH_JWKS_TIMEOUT_SECONDS: Input should be greater than 0"],
    ),
    (
        "leeway-too-long",
        {"BETTER_AUTH_SECRET": GOOD, "AUTH_LEEWAY_SECONDS": "301"},
        ["AUTH_LEEWAY_SECONDS: Input should be less than or equal to 300"],
    ),
    (
        "database-not-a-url",
        {"BETTER_AUTH_SECRET": GOOD, "DATABASE_URL": "todo.db"},
        ["DATABASE_URL: DATABASE_URL is not a URL: use sqlite:///path or postgresql://..."],
    ),
    (
        "database-scheme",
        {"BETTER_AUTH_SECRET": GOOD, "DATABASE_URL": "mysql://u:pw@h/db"},
        [
            "DATABASE_URL: DATABASE_URL has an unsupported scheme: use sqlite:///path or postgresql+psycopg://user@host:port/database"
        ],
    ),
    (
        "migration-scheme",
        {"BETTER_AUTH_SECRET": GOOD, "MIGRATION_DATABASE_URL": "postgresql+psycopg2://u:pw@h/db"},
        [
            "MIGRATION_DATABASE_URL: MIGRATION_DATABASE_URL has an unsupported scheme: use sqlite:///path or postgresql+psycopg://user@host:port/database"
        ],
    ),
    (
        "pool-size",
        {"BETTER_AUTH_SECRET": GOOD, "DB_POOL_SIZE": "0"},
        ["DB_POOL_SIZE: Input should be greater than or equal to 1"],
    ),
    (
        "max-overflow",
        {"BETTER_AUTH_SECRET": GOOD, "DB_MAX_OVERFLOW": "-1"},
        ["DB_MAX_OVERFLOW: Input should be greater than or equal to 0"],
    ),
    (
        "pool-timeout",
        {"BETTER_AUTH_SECRET": GOOD, "DB_POOL_TIMEOUT": "0"},
        ["DB_POOL_TIMEOUT: Input should be greater than 0"],
    ),
    (
        "connect-timeout",
        {"BETTER_AUTH_SECRET": GOOD, "DB_CONNECT_TIMEOUT": "1"},
        ["DB_CONNECT_TIMEOUT: Input should be greater than or equal to 2"],
    ),
    (
        "startup-timeout",
        {"BETTER_AUTH_SECRET": GOOD, "DB_STARTUP_TIMEOUT": "601"},
        ["DB_STARTUP_TIMEOUT: Input should be less than or equal to 600"],
    ),
    (
        "prepared-not-boolean",
        {"BETTER_AUTH_SECRET": GOOD, "DB_PREPARED_STATEMENTS": "maybe"},
        ["DB_PREPARED_STATEMENTS: Input should be a valid boolean, unable to interpret input"],
    ),
    (
        "bad-rate",
        {"BETTER_AUTH_SECRET": GOOD, "RATE_LIMIT": "lots"},
        ["RATE_LIMIT: use N/second, N/minute or N/hour with N >= 1, or off"],
    ),
    (
        "bad-write-rate",
        {"BETTER_AUTH_SECRET": GOOD, "RATE_LIMIT_WRITES": "0/minute"},
        ["RATE_LIMIT_WRITES: use N/second, N/minute or N/hour with N >= 1, or off"],
    ),
    (
        "bad-failure-rate",
        {"BETTER_AUTH_SECRET": GOOD, "RATE_LIMIT_AUTH_FAILURES": "5/fortnight"},
        ["RATE_LIMIT_AUTH_FAILURES: use N/second, N/minute or N/hour with N >= 1, or off"],
    ),
    (
        "counter-store",
        {"BETTER_AUTH_SECRET": GOOD, "RATE_LIMIT_STORAGE_URL": "memcached://h"},
        [
            "RATE_LIMIT_STORAGE_URL: RATE_LIMIT_STORAGE_URL must be memory:// or redis://host:port/db (rediss:// for TLS)"
        ],
    ),
    (
        "per-process-with-redis",
        {
            "BETTER_AUTH_SECRET": GOOD,
            "RATE_LIMIT_PER_PROCESS": "true",
            "RATE_LIMIT_STORAGE_URL": REDIS,
        },
        [
            "RATE_LIMIT_PER_PROCESS=true applies to memory:// counters only: Redis counters are shared by every worker (unset it)"
        ],
    ),
    (
        "per-process-not-boolean",
        {"BETTER_AUTH_SECRET": GOOD, "RATE_LIMIT_PER_PROCESS": "maybe"},
        ["RATE_LIMIT_PER_PROCESS: Input should be a valid boolean, unable to interpret input"],
    ),
    (
        "required-memory-store",
        {"BETTER_AUTH_SECRET": GOOD, "RATE_LIMIT_STORE_REQUIRED": "true"},
        [
            "RATE_LIMIT_STORE_REQUIRED: RATE_LIMIT_STORE_REQUIRED=true needs a Redis RATE_LIMIT_STORAGE_URL (the memory:// counters of each process cannot be unreachable)"
        ],
    ),
    (
        "required-not-boolean",
        {
            "BETTER_AUTH_SECRET": GOOD,
            "RATE_LIMIT_STORAGE_URL": REDIS,
            "RATE_LIMIT_STORE_REQUIRED": "sometimes",
        },
        ["RATE_LIMIT_STORE_REQUIRED: Input should be a valid boolean, unable to interpret input"],
    ),
    (
        "quota-zero",
        {"BETTER_AUTH_SECRET": GOOD, "MAX_TASKS_PER_USER": "0"},
        ["MAX_TASKS_PER_USER: Input should be greater than or equal to 1"],
    ),
    (
        "quota-not-a-number",
        {"BETTER_AUTH_SECRET": GOOD, "MAX_TASKS_PER_USER": "many"},
        [
            "MAX_TASKS_PER_USER: Input should be a valid integer, unable to parse string as an integer"
        ],
    ),
    (
        "if-match-not-boolean",
        {"BETTER_AUTH_SECRET": GOOD, "REQUIRE_IF_MATCH": "perhaps"},
        ["REQUIRE_IF_MATCH: Input should be a valid boolean, unable to interpret input"],
    ),
    (
        "idempotency-ttl",
        {"BETTER_AUTH_SECRET": GOOD, "IDEMPOTENCY_TTL_SECONDS": "0"},
        ["IDEMPOTENCY_TTL_SECONDS: Input should be greater than or equal to 1"],
    ),
    (
        "trusted-proxies",
        {"BETTER_AUTH_SECRET": GOOD, "TRUSTED_PROXIES": "10.0.0.0/8,proxy.example"},
        ["TRUSTED_PROXIES: TRUSTED_PROXIES must list IP addresses or networks such as 10.0.0.0/8"],
    ),
    (
        "cors-wildcard",
        {"BETTER_AUTH_SECRET": GOOD, "CORS_ORIGINS": "*"},
        [
            "CORS_ORIGINS: CORS_ORIGINS must list exact origins such as http://localhost:3000 (a wildcard is not allowed)"
        ],
    ),
    (
        "cors-bare-host",
        {"BETTER_AUTH_SECRET": GOOD, "CORS_ORIGINS": "localhost:3000"},
        [
            "CORS_ORIGINS: CORS_ORIGINS must list exact origins such as http://localhost:3000 (a wildcard is not allowed)"
        ],
    ),
    (
        "body-bytes",
        {"BETTER_AUTH_SECRET": GOOD, "MAX_BODY_BYTES": "0"},
        ["MAX_BODY_BYTES: Input should be greater than or equal to 1"],
    ),
    (
        "header-bytes",
        {"BETTER_AUTH_SECRET": GOOD, "MAX_HEADER_BYTES": "100"},
        ["MAX_HEADER_BYTES: Input should be greater than or equal to 1024"],
    ),
    (
        "header-timeout",
        {"BETTER_AUTH_SECRET": GOOD, "HEADER_TIMEOUT_SECONDS": "0"},
        ["HEADER_TIMEOUT_SECONDS: Input should be greater than 0"],
    ),
    (
        "body-timeout",
        {"BETTER_AUTH_SECRET": GOOD, "BODY_TIMEOUT_SECONDS": "301"},
        ["BODY_TIMEOUT_SECONDS: Input should be less than or equal to 300"],
    ),
    (
        "keep-alive",
        {"BETTER_AUTH_SECRET": GOOD, "KEEP_ALIVE_SECONDS": "0"},
        ["KEEP_ALIVE_SECONDS: Input should be greater than or equal to 1"],
    ),
    (
        "shutdown-grace",
        {"BETTER_AUTH_SECRET": GOOD, "SHUTDOWN_GRACE_SECONDS": "601"},
        ["SHUTDOWN_GRACE_SECONDS: Input should be less than or equal to 600"],
    ),
    (
        "metrics-port",
        {"BETTER_AUTH_SECRET": GOOD, "METRICS_PORT": "70000"},
        ["METRICS_PORT: Input should be less than or equal to 65535"],
    ),
    (
        "metrics-host",
        {"BETTER_AUTH_SECRET": GOOD, "METRICS_HOST": ""},
        ["METRICS_HOST: String should have at least 1 character"],
    ),
    (
        "several-at-once",
        {
            "BETTER_AUTH_SECRET": "short",
            "DB_POOL_SIZE": "0",
            "CORS_ORIGINS": "*",
            "RATE_LIMIT": "lots",
            "KEEP_ALIVE_SECONDS": "0",
            "METRICS_PORT": "0",
        },
        [
            "DB_POOL_SIZE: Input should be greater than or equal to 1",
            "RATE_LIMIT: use N/second, N/minute or N/hour with N >= 1, or off",
            "CORS_ORIGINS: CORS_ORIGINS must list exact origins such as http://localhost:3000 (a wildcard is not allowed)",
            "KEEP_ALIVE_SECONDS: Input should be greater than or equal to 1",
            "METRICS_PORT: Input should be greater than or equal to 1",
        ],
    ),
    # Changed by the split, and only these two: when refusals of two concerns meet, the concerns
    # answer in the order of Settings (database, auth, limits, tasks, CORS, server, observability).
    # Before, the limits' own check came before the key source, and TRUSTED_PROXIES after the tasks'.
    (
        "two-model-checks",
        {
            "BETTER_AUTH_SECRET": "short",
            "RATE_LIMIT_PER_PROCESS": "true",
            "RATE_LIMIT_STORAGE_URL": REDIS,
        },
        [
            "BETTER_AUTH_SECRET is too short: it needs at least 32 bytes (`todo-api secret` prints a suitable one)"
        ],
    ),
    (
        "proxies-and-quota",
        {"BETTER_AUTH_SECRET": GOOD, "MAX_TASKS_PER_USER": "0", "TRUSTED_PROXIES": "proxy.example"},
        [
            "TRUSTED_PROXIES: TRUSTED_PROXIES must list IP addresses or networks such as 10.0.0.0/8",
            "MAX_TASKS_PER_USER: Input should be greater than or equal to 1",
        ],
    ),
]


@pytest.mark.parametrize(
    ("env", "lines"), [case[1:] for case in REFUSALS], ids=[c[0] for c in REFUSALS]
)
def test_each_refusal_is_worded_as_before(env: dict[str, str], lines: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, **env)
    assert str(caught.value) == "invalid configuration:\n  " + "\n  ".join(lines)


def test_the_database_part_alone_refuses_as_before() -> None:
    """What `todo-api migrate` reads: no key source needed, the same words."""
    with pytest.raises(ConfigError) as caught:
        load_settings(DatabaseSettings, _env_file=None, DATABASE_URL="todo.db", DB_POOL_SIZE="0")
    assert str(caught.value) == (
        "invalid configuration:\n"
        "  DATABASE_URL: DATABASE_URL is not a URL: use sqlite:///path or postgresql://...\n"
        "  DB_POOL_SIZE: Input should be greater than or equal to 1"
    )


def test_the_refusals_after_loading_are_worded_as_before() -> None:
    settings = load_settings(_env_file=None, BETTER_AUTH_SECRET=GOOD, RATE_LIMIT="60/minute")
    with pytest.raises(ConfigError) as caught:
        settings.check_processes(3)
    assert str(caught.value) == (
        "RATE_LIMIT_STORAGE_URL keeps the rate-limit counters in memory, and each of the 3 "
        "workers would count alone (up to 3 times every limit): share them with "
        "RATE_LIMIT_STORAGE_URL=redis://host:port/db, or set RATE_LIMIT_PER_PROCESS=true to "
        "accept budgets per worker"
    )
    jwks_only = load_settings(_env_file=None, BETTER_AUTH_URL="http://a.example")
    with pytest.raises(ConfigError) as caught:
        jwks_only.secret_bytes()
    assert str(caught.value) == "BETTER_AUTH_SECRET is not set: no secret to sign dev tokens with"


def test_each_concern_validates_its_own_variables_alone() -> None:
    """A concern needs none of the others: the limits load without a key source, and the auth
    concern alone refuses to start without one."""
    limits = load_settings(LimitSettings, _env_file=None, RATE_LIMIT="5/second")
    assert limits.budgets().requests is not None
    with pytest.raises(ConfigError, match="BETTER_AUTH_SECRET is not set"):
        load_settings(AuthSettings, _env_file=None)
    with pytest.raises(ConfigError, match="CORS_ORIGINS must list exact origins"):
        load_settings(CorsSettings, _env_file=None, CORS_ORIGINS="*")
