"""Configuration from the environment (and `.env`), validated once at start; fails closed."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_SECRET_BYTES = 32
# Symmetric algorithms only: the shared secret is the one key source this build knows.
SUPPORTED_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
# Values copied from docs or examples are public knowledge, whatever their length.
_PLACEHOLDER_SECRETS = frozenset(
    {"changeme", "change-me", "secret", "your-secret-here", "replace-me-with-a-long-random-secret"}
)

CommaList = Annotated[list[str], NoDecode]


class ConfigError(Exception):
    """A setting is missing or unusable; the message names the variable, never its value."""


class Settings(BaseSettings):
    """Every knob of the service. `.env.example` documents each one."""

    # env_ignore_empty: `AUTH_ISSUER=` as in .env.example means "unset", not "the empty issuer".
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    better_auth_secret: SecretStr | None = Field(default=None, alias="BETTER_AUTH_SECRET")
    auth_algorithms: CommaList = Field(default=["HS256"], alias="AUTH_ALGORITHMS")
    auth_issuer: str | None = Field(default=None, alias="AUTH_ISSUER")
    auth_audience: str | None = Field(default=None, alias="AUTH_AUDIENCE")
    auth_leeway_seconds: int = Field(default=30, ge=0, le=300, alias="AUTH_LEEWAY_SECONDS")

    database_url: str = Field(default="sqlite:///./data/todo.db", alias="DATABASE_URL")
    # Storage (issue 6): the owner role migrates, the app role only reads and writes rows.
    migration_database_url: str | None = Field(default=None, alias="MIGRATION_DATABASE_URL")
    db_pool_size: int = Field(default=5, ge=1, le=100, alias="DB_POOL_SIZE")
    db_max_overflow: int = Field(default=10, ge=0, le=100, alias="DB_MAX_OVERFLOW")
    db_pool_timeout: float = Field(default=10, gt=0, le=300, alias="DB_POOL_TIMEOUT")
    db_connect_timeout: int = Field(default=5, ge=2, le=300, alias="DB_CONNECT_TIMEOUT")
    db_startup_timeout: float = Field(default=20, ge=0, le=600, alias="DB_STARTUP_TIMEOUT")
    cors_origins: CommaList = Field(default=[], alias="CORS_ORIGINS")
    max_body_bytes: int = Field(default=64 * 1024, ge=1, alias="MAX_BODY_BYTES")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")

    @field_validator("auth_algorithms", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("auth_algorithms")
    @classmethod
    def _known_algorithms(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("AUTH_ALGORITHMS is empty: set at least one, e.g. HS256")
        unknown = sorted(set(value) - SUPPORTED_ALGORITHMS)
        if unknown:
            raise ValueError(
                f"AUTH_ALGORITHMS has unsupported entries {unknown}: "
                f"choose from {sorted(SUPPORTED_ALGORITHMS)} ('none' is never accepted)"
            )
        return value

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
    def _usable_secret(self) -> Settings:
        secret = self.better_auth_secret
        if secret is None or not secret.get_secret_value().strip():
            raise ValueError(
                "BETTER_AUTH_SECRET is not set: use the secret your Better Auth server signs "
                "with (`make run` writes a generated dev secret into .env)"
            )
        raw = secret.get_secret_value()
        if raw.strip().lower() in _PLACEHOLDER_SECRETS:
            raise ValueError(
                "BETTER_AUTH_SECRET is a placeholder: generate one (`todo-api secret`)"
            )
        if len(raw.encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"BETTER_AUTH_SECRET is too short: it needs at least {MIN_SECRET_BYTES} bytes "
                "(`todo-api secret` prints a suitable one)"
            )
        return self

    def migration_url(self) -> str:
        """The role that owns the schema runs migrations; by default the one in DATABASE_URL."""
        return self.migration_database_url or self.database_url

    def secret_bytes(self) -> bytes:
        """The HMAC key; present by construction."""
        assert self.better_auth_secret is not None
        return self.better_auth_secret.get_secret_value().encode()


def load_settings(**overrides: object) -> Settings:
    """Build settings or raise ConfigError with a message fit for an operator."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            location = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{location}: {message}" if location else message)
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None
