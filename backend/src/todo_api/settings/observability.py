"""Observability settings: the log level, and the Prometheus listener (off unless a port is set)."""

from __future__ import annotations

from pydantic import Field

from todo_api.settings.env import EnvSettings

# Where prometheus_client's processes share their samples: set by `serve --workers N` for its
# workers (workers.py), read by metrics.py; here so that `serve` can set it without importing the
# metrics layer (research F6).
MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


class ObservabilitySettings(EnvSettings):
    """JSON logs at LOG_LEVEL; metrics on a listener of their own, never on the API's port."""

    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    metrics_port: int | None = Field(default=None, ge=1, le=65535, alias="METRICS_PORT")
    metrics_host: str = Field(default="127.0.0.1", min_length=1, alias="METRICS_HOST")
