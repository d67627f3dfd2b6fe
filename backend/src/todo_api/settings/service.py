"""The service's settings: every concern in one object, read and validated once at start."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from todo_api.settings.auth import AuthSettings
from todo_api.settings.cors import CorsSettings
from todo_api.settings.database import DatabaseSettings
from todo_api.settings.env import ConfigError, EnvSettings
from todo_api.settings.limits import LimitSettings
from todo_api.settings.observability import ObservabilitySettings
from todo_api.settings.server import ServerSettings
from todo_api.settings.tasks import TaskSettings


# Bases are listed last concern first: pydantic gathers fields (and so lists several refusals)
# from the last base to the first, so refusals come in the single class's order, database first.
class Settings(
    ObservabilitySettings,
    ServerSettings,
    CorsSettings,
    TaskSettings,
    LimitSettings,
    AuthSettings,
    DatabaseSettings,
):
    """Every knob of the service, each concern validating its own. `.env.example` documents each
    one; a component takes the concern it needs (a `Settings` is each of them)."""


S = TypeVar("S", bound=EnvSettings)


def load_settings(
    kind: type[S] = Settings,  # type: ignore[assignment]
    *,
    env_file: Path | None = None,
    **overrides: object,
) -> S:
    """Build settings or raise ConfigError with a message fit for an operator.

    `kind` is Settings, or one concern alone (`todo-api migrate` reads DatabaseSettings only).
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
