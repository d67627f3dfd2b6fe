"""Configuration from the environment (and `.env`), validated once at start; fails closed.

One module per concern, each a settings model that validates its own variables and builds its
own component's configuration: database, auth, limits, tasks, CORS, the HTTP server and
observability. `Settings` is all of them at once; `load_settings` turns a refusal into a
ConfigError that names the variable, never its value.
"""

from todo_api.settings.auth import AuthSettings
from todo_api.settings.cors import CorsSettings
from todo_api.settings.database import DatabaseSettings
from todo_api.settings.env import ConfigError, find_env_file, project_root
from todo_api.settings.limits import LimitSettings
from todo_api.settings.observability import ObservabilitySettings
from todo_api.settings.server import ServerSettings
from todo_api.settings.service import Settings, load_settings
from todo_api.settings.tasks import TaskSettings

__all__ = [
    "AuthSettings",
    "ConfigError",
    "CorsSettings",
    "DatabaseSettings",
    "LimitSettings",
    "ObservabilitySettings",
    "ServerSettings",
    "Settings",
    "TaskSettings",
    "find_env_file",
    "load_settings",
    "project_root",
]
