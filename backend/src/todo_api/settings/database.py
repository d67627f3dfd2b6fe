"""Database settings: where the data lives and the pool of each process (all `migrate` reads)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, ValidationInfo, field_validator

from todo_api.settings.env import EnvSettings

if TYPE_CHECKING:
    from todo_api.db.engine import PoolOptions


class DatabaseSettings(EnvSettings):
    """Where the data lives: all that `todo-api migrate` reads (it verifies no token)."""

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

    def pool_options(self) -> PoolOptions:
        """The pool of each process; its size is also the number of database threads."""
        # Imported here: reading the settings (a refusal, `migrate`'s URL) needs no SQLAlchemy.
        from todo_api.db.engine import PoolOptions

        return PoolOptions(
            size=self.db_pool_size,
            max_overflow=self.db_max_overflow,
            timeout=self.db_pool_timeout,
            connect_timeout=self.db_connect_timeout,
            prepared_statements=self.db_prepared_statements,
        )
