"""CORS settings: the browser origins allowed to call the API, exact, never a wildcard."""

from __future__ import annotations

from pydantic import Field, field_validator

from todo_api.settings.env import CommaList, EnvSettings


class CorsSettings(EnvSettings):
    """Origins a browser may call from; none by default (same-origin only)."""

    cors_origins: CommaList = Field(default=[], alias="CORS_ORIGINS")

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
