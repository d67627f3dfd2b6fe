"""Configuration from the environment (and `.env`), validated once at start; fails closed."""

from __future__ import annotations

import tomllib
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from todo_api.auth.tokens import ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS, SUPPORTED_ALGORITHMS
from todo_api.ratelimit.policy import OFF, Rate, parse_rate

MIN_SECRET_BYTES = 32
BETTER_AUTH_JWKS_PATH = "/api/auth/jwks"
# Values copied from docs or examples are public knowledge, whatever their length.
_PLACEHOLDER_SECRETS = frozenset(
    {"changeme", "change-me", "secret", "your-secret-here", "replace-me-with-a-long-random-secret"}
)

CommaList = Annotated[list[str], NoDecode]
RateSetting = Annotated[Rate | None, BeforeValidator(parse_rate)]


def _off_is_none(value: object) -> object:
    return None if isinstance(value, str) and value.strip().lower() == OFF else value


class ConfigError(Exception):
    """A setting is missing or unusable; the message names the variable, never its value."""


class DatabaseSettings(BaseSettings):
    """Where the data lives: all that `todo-api migrate` reads (it verifies no token)."""

    # env_ignore_empty: `AUTH_ISSUER=` as in .env.example means "unset", not "the empty issuer".
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    database_url: str = Field(default="sqlite:///./data/todo.db", alias="DATABASE_URL")
    # The owner role migrates, the app role only reads and writes rows (research.md, "Roles and
    # grants from `todo-api roles`").
    migration_database_url: str | None = Field(default=None, alias="MIGRATION_DATABASE_URL")
    db_pool_size: int = Field(default=5, ge=1, le=100, alias="DB_POOL_SIZE")
    db_max_overflow: int = Field(default=10, ge=0, le=100, alias="DB_MAX_OVERFLOW")
    db_pool_timeout: float = Field(default=10, gt=0, le=300, alias="DB_POOL_TIMEOUT")
    db_connect_timeout: int = Field(default=5, ge=2, le=300, alias="DB_CONNECT_TIMEOUT")
    db_startup_timeout: float = Field(default=20, ge=0, le=600, alias="DB_STARTUP_TIMEOUT")
    db_prepared_statements: bool = Field(default=False, alias="DB_PREPARED_STATEMENTS")

    @field_validator("database_url", "migration_database_url")
    @classmethod
    def _supported_database(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        variable = "DATABASE_URL" if info.field_name == "database_url" else "MIGRATION_DATABASE_URL"
        scheme, separator, rest = value.partition("://")
        if not separator:
            raise ValueError(f"{variable} is not a URL: use sqlite:///path or postgresql://...")
        # Managed services hand out postgres:// or postgresql:// URLs; psycopg 3 is our driver.
        if scheme in {"postgres", "postgresql"}:
            return f"postgresql+psycopg://{rest}"
        if scheme not in {"sqlite", "postgresql+psycopg"}:
            raise ValueError(
                f"{variable} has an unsupported scheme: use sqlite:///path or "
                "postgresql+psycopg://user@host:port/database"
            )
        return value

    def migration_url(self) -> str:
        """The role that owns the schema runs migrations; by default the one in DATABASE_URL."""
        return self.migration_database_url or self.database_url


class Settings(DatabaseSettings):
    """Every knob of the service. `.env.example` documents each one."""

    better_auth_secret: SecretStr | None = Field(default=None, alias="BETTER_AUTH_SECRET")
    # Secrets still accepted for verification during a rotation window (never used to sign).
    better_auth_secret_previous: Annotated[list[SecretStr], NoDecode] = Field(
        default=[], alias="BETTER_AUTH_SECRET_PREVIOUS"
    )
    better_auth_url: str | None = Field(default=None, alias="BETTER_AUTH_URL")
    auth_jwks_url: str | None = Field(default=None, alias="AUTH_JWKS_URL")
    auth_jwks_refresh_seconds: float = Field(
        default=300, ge=1, le=86400, alias="AUTH_JWKS_REFRESH_SECONDS"
    )
    auth_jwks_min_refetch_seconds: float = Field(
        default=30, ge=0, le=3600, alias="AUTH_JWKS_MIN_REFETCH_SECONDS"
    )
    auth_jwks_timeout_seconds: float = Field(
        default=5, gt=0, le=60, alias="AUTH_JWKS_TIMEOUT_SECONDS"
    )
    # How long cached keys stay usable while the issuer cannot confirm them (docs/jwks.md).
    auth_jwks_max_stale_seconds: float = Field(
        default=86400, gt=0, le=30 * 86400, alias="AUTH_JWKS_MAX_STALE_SECONDS"
    )

    @field_validator("auth_jwks_max_stale_seconds")
    @classmethod
    def _stale_after_a_refresh(cls, value: float, info: ValidationInfo) -> float:
        refresh = info.data.get("auth_jwks_refresh_seconds")
        if refresh is not None and value <= refresh:
            raise ValueError(
                "AUTH_JWKS_MAX_STALE_SECONDS must be longer than AUTH_JWKS_REFRESH_SECONDS: "
                "keys would go stale between two scheduled refreshes"
            )
        return value

    # Unset: HS256 when a secret is configured, plus every JWKS algorithm when a JWKS is.
    auth_algorithms: CommaList = Field(default=[], alias="AUTH_ALGORITHMS")
    auth_issuer: str | None = Field(default=None, alias="AUTH_ISSUER")
    auth_audience: str | None = Field(default=None, alias="AUTH_AUDIENCE")
    auth_leeway_seconds: int = Field(default=30, ge=0, le=300, alias="AUTH_LEEWAY_SECONDS")

    # Abuse limits (OWASP API4): `N/second|minute|hour`, or `off`.
    rate_limit: RateSetting = Field(default=Rate(600, 60), alias="RATE_LIMIT")
    rate_limit_writes: RateSetting = Field(default=Rate(120, 60), alias="RATE_LIMIT_WRITES")
    rate_limit_auth_failures: RateSetting = Field(
        default=Rate(30, 60), alias="RATE_LIMIT_AUTH_FAILURES"
    )
    rate_limit_storage_url: str = Field(default="memory://", alias="RATE_LIMIT_STORAGE_URL")
    # true: with several workers and memory:// counters, each worker keeps budgets of its own
    # (a user may get up to N times every limit). Never assumed: see check_processes.
    rate_limit_per_process: bool = Field(default=False, alias="RATE_LIMIT_PER_PROCESS")
    # A store that does not answer at start: a warning and requests served uncounted (false), or
    # no start at all (true). Past the start, the limits fail open either way (limiter.py).
    rate_limit_store_required: bool = Field(default=False, alias="RATE_LIMIT_STORE_REQUIRED")
    max_tasks_per_user: Annotated[int | None, BeforeValidator(_off_is_none)] = Field(
        default=10_000, ge=1, alias="MAX_TASKS_PER_USER"
    )
    # Safe writes (issue 13): when true, a PUT/PATCH/toggle/DELETE without If-Match is a 428.
    require_if_match: bool = Field(default=False, alias="REQUIRE_IF_MATCH")
    # How long the answer of a create with an Idempotency-Key is kept, and so replayed: a day,
    # longer than any client's retries; expired answers are purged (tasks/idempotency.py).
    idempotency_ttl_seconds: int = Field(
        default=86_400, ge=1, le=30 * 86_400, alias="IDEMPOTENCY_TTL_SECONDS"
    )
    trusted_proxies: CommaList = Field(default=[], alias="TRUSTED_PROXIES")

    cors_origins: CommaList = Field(default=[], alias="CORS_ORIGINS")
    max_body_bytes: int = Field(default=64 * 1024, ge=1, alias="MAX_BODY_BYTES")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")

    # Hostile clients (server.py): a bounded request head, bounded read times, and a
    # shutdown that ends. Small values are allowed so that tests can reach them quickly.
    max_header_bytes: int = Field(
        default=16 * 1024, ge=1024, le=1024 * 1024, alias="MAX_HEADER_BYTES"
    )
    header_timeout_seconds: float = Field(default=10, gt=0, le=300, alias="HEADER_TIMEOUT_SECONDS")
    body_timeout_seconds: float = Field(default=10, gt=0, le=300, alias="BODY_TIMEOUT_SECONDS")
    # How long an idle kept-alive connection stays open (uvicorn's default, 5 s). Behind a load
    # balancer that keeps connections to the instances, it must outlast the balancer's idle
    # timeout (AWS ALB: 60 s), or requests meet a connection closing under them (502).
    keep_alive_seconds: int = Field(default=5, ge=1, le=3600, alias="KEEP_ALIVE_SECONDS")
    shutdown_grace_seconds: int = Field(default=10, ge=0, le=600, alias="SHUTDOWN_GRACE_SECONDS")

    # Prometheus metrics (metrics.py) on a listener of their own, never on the API's port.
    metrics_port: int | None = Field(default=None, ge=1, le=65535, alias="METRICS_PORT")
    metrics_host: str = Field(default="127.0.0.1", min_length=1, alias="METRICS_HOST")

    @field_validator(
        "auth_algorithms",
        "cors_origins",
        "better_auth_secret_previous",
        "trusted_proxies",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("auth_algorithms")
    @classmethod
    def _known_algorithms(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - SUPPORTED_ALGORITHMS)
        if unknown:
            raise ValueError(
                f"AUTH_ALGORITHMS has unsupported entries {unknown}: "
                f"choose from {sorted(SUPPORTED_ALGORITHMS)} ('none' is never accepted)"
            )
        return value

    @field_validator("rate_limit_storage_url")
    @classmethod
    def _supported_counter_store(cls, value: str) -> str:
        if value != "memory://" and urlsplit(value).scheme not in {"redis", "rediss"}:
            raise ValueError(
                "RATE_LIMIT_STORAGE_URL must be memory:// or redis://host:port/db (rediss:// "
                "for TLS)"
            )
        return value

    @model_validator(mode="after")
    def _per_process_needs_memory(self) -> Settings:
        if self.rate_limit_per_process and self.rate_limit_storage_url != "memory://":
            raise ValueError(
                "RATE_LIMIT_PER_PROCESS=true applies to memory:// counters only: Redis counters "
                "are shared by every worker (unset it)"
            )
        return self

    def check_processes(self, processes: int) -> None:
        """Refuse budgets multiplied without a word: with several processes, memory:// counters
        give each process budgets of its own, so a user gets up to `processes` times each limit.
        """
        policies = (self.rate_limit, self.rate_limit_writes, self.rate_limit_auth_failures)
        if (
            processes > 1
            and self.rate_limit_storage_url == "memory://"
            and any(policy is not None for policy in policies)
            and not self.rate_limit_per_process
        ):
            raise ConfigError(
                f"RATE_LIMIT_STORAGE_URL keeps the rate-limit counters in memory, and each of "
                f"the {processes} workers would count alone (up to {processes} times every "
                "limit): share them with RATE_LIMIT_STORAGE_URL=redis://host:port/db, or set "
                "RATE_LIMIT_PER_PROCESS=true to accept budgets per worker"
            )

    @field_validator("rate_limit_store_required")
    @classmethod
    def _a_store_to_require(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("rate_limit_storage_url", "memory://") == "memory://":
            raise ValueError(
                "RATE_LIMIT_STORE_REQUIRED=true needs a Redis RATE_LIMIT_STORAGE_URL (the "
                "memory:// counters of each process cannot be unreachable)"
            )
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    "TRUSTED_PROXIES must list IP addresses or networks such as 10.0.0.0/8"
                ) from None
        return value

    def proxy_networks(self) -> list[IPv4Network | IPv6Network]:
        return [ip_network(entry, strict=False) for entry in self.trusted_proxies]

    @field_validator("cors_origins")
    @classmethod
    def _explicit_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin == "*" or not origin.startswith(("http://", "https://")):
                raise ValueError(
                    "CORS_ORIGINS must list exact origins such as http://localhost:3000 "
                    "(a wildcard is not allowed)"
                )
        return [origin.rstrip("/") for origin in value]

    @model_validator(mode="after")
    def _usable_key_source(self) -> Settings:
        if self.better_auth_secret is not None:
            _check_secret("BETTER_AUTH_SECRET", self.better_auth_secret)
        for previous in self.better_auth_secret_previous:
            _check_secret("BETTER_AUTH_SECRET_PREVIOUS", previous)
        if self.better_auth_secret_previous and self.better_auth_secret is None:
            raise ValueError("BETTER_AUTH_SECRET_PREVIOUS is set without BETTER_AUTH_SECRET")
        for name, url in (
            ("BETTER_AUTH_URL", self.better_auth_url),
            ("AUTH_JWKS_URL", self.auth_jwks_url),
        ):
            if url is not None and (
                urlsplit(url).scheme not in {"http", "https"} or not urlsplit(url).netloc
            ):
                raise ValueError(f"{name} must be an http(s) URL such as http://localhost:3000")
        if self.better_auth_url is not None:
            base = self.better_auth_url.rstrip("/")
            self.auth_jwks_url = self.auth_jwks_url or base + BETTER_AUTH_JWKS_PATH
            # Better Auth's JWT plugin sets both iss and aud to the origin of its baseURL.
            parts = urlsplit(base)
            origin = f"{parts.scheme}://{parts.netloc}"
            self.auth_issuer = self.auth_issuer or origin
            self.auth_audience = self.auth_audience or origin
        has_secret, has_jwks = self.better_auth_secret is not None, self.auth_jwks_url is not None
        if not has_secret and not has_jwks:
            raise ValueError(
                "BETTER_AUTH_SECRET is not set (nor BETTER_AUTH_URL / AUTH_JWKS_URL): the server "
                "needs a key source. Use the secret your Better Auth server signs with (`make "
                "run` writes a generated dev secret into .env), or its URL for JWKS tokens"
            )
        if not self.auth_algorithms:
            self.auth_algorithms = [
                *(["HS256"] if has_secret else []),
                *(ASYMMETRIC_ALGORITHMS if has_jwks else []),
            ]
        chosen = set(self.auth_algorithms)
        if chosen.intersection(HMAC_ALGORITHMS) and not has_secret:
            raise ValueError(
                "AUTH_ALGORITHMS names an HS* algorithm but BETTER_AUTH_SECRET is not set"
            )
        if chosen.intersection(ASYMMETRIC_ALGORITHMS) and not has_jwks:
            raise ValueError(
                "AUTH_ALGORITHMS names an asymmetric algorithm but neither BETTER_AUTH_URL nor "
                "AUTH_JWKS_URL is set"
            )
        return self

    def secret_keys(self) -> tuple[bytes, ...]:
        """HMAC keys for verification: the current secret first, then previous ones."""
        secrets = [self.better_auth_secret] if self.better_auth_secret else []
        secrets += self.better_auth_secret_previous
        return tuple(secret.get_secret_value().encode() for secret in secrets)

    def secret_bytes(self) -> bytes:
        """The current HMAC key, the one dev tokens are signed with."""
        if self.better_auth_secret is None:
            raise ConfigError("BETTER_AUTH_SECRET is not set: no secret to sign dev tokens with")
        return self.better_auth_secret.get_secret_value().encode()


def _check_secret(name: str, secret: SecretStr) -> None:
    raw = secret.get_secret_value()
    if not raw.strip():
        raise ValueError(f"{name} is empty")
    if raw.strip().lower() in _PLACEHOLDER_SECRETS:
        raise ValueError(f"{name} is a placeholder: generate one (`todo-api secret`)")
    if len(raw.encode()) < MIN_SECRET_BYTES:
        raise ValueError(
            f"{name} is too short: it needs at least {MIN_SECRET_BYTES} bytes "
            "(`todo-api secret` prints a suitable one)"
        )


S = TypeVar("S", bound="DatabaseSettings")


PROJECT_NAME = "todo-api"
DOTENV = ".env"


def project_root(start: Path | None = None) -> Path | None:
    """The checkout this package runs from, if any: the nearest folder above `start` (this
    module) holding a pyproject.toml of this project. None for an installed wheel elsewhere."""
    for folder in (start or Path(__file__).resolve()).parents:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                name = tomllib.loads(candidate.read_text(encoding="utf-8"))["project"]["name"]
            except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError):
                return None
            return folder if name == PROJECT_NAME else None
    return None


def find_env_file(explicit: str | None = None, *, root: Path | None = None) -> Path | None:
    """The `.env` the `todo-api` command reads: `--env-file FILE` (which must exist), else
    `./.env`, else the `.env` of the checkout the package runs from (so `todo-api token` works
    from any directory). Variables set in the environment win over the file's either way."""
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"--env-file {explicit}: no such file")
        return path
    if Path(DOTENV).is_file():
        return Path(DOTENV)
    root = root or project_root()
    if root is not None and (root / DOTENV).is_file():
        return root / DOTENV
    return None


def load_settings(
    kind: type[S] = Settings,  # type: ignore[assignment]
    *,
    env_file: Path | None = None,
    **overrides: object,
) -> S:
    """Build settings or raise ConfigError with a message fit for an operator.

    `env_file` replaces `./.env` (find_env_file says which one the command line reads)."""
    if env_file is not None:
        # pydantic-settings' documented keyword for "this file instead of model_config's"; a
        # subclass reading another file would not pickle into `serve --workers N` processes.
        overrides = {"_env_file": env_file, **overrides}
    try:
        return kind(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            location = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{location}: {message}" if location else message)
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None
