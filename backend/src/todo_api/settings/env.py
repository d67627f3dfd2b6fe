"""Where settings come from: the environment and a `.env` file, and the error a bad one raises."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from todo_api import PROJECT_NAME


class ConfigError(Exception):
    """A setting is missing or unusable; the message names the variable, never its value."""


def split_commas(value: object) -> object:
    """`A, B,` in the environment is the list [A, B]: entries trimmed, blanks dropped."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


# NoDecode: a list variable is read comma-separated, never as JSON.
CommaList = Annotated[list[str], NoDecode, BeforeValidator(split_commas)]


class EnvSettings(BaseSettings):
    """The base of every concern: the environment, then `.env`; other variables are ignored."""

    # env_ignore_empty: `AUTH_ISSUER=` as in .env.example means "unset", not "the empty issuer".
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )


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
