"""HTTP server settings: what one request and one connection may take, and how shutdown ends."""

from __future__ import annotations

from pydantic import Field

from todo_api.settings.env import EnvSettings


class ServerSettings(EnvSettings):
    """Bounds against hostile clients (docs/hostile-clients.md) and the shutdown's grace."""

    max_body_bytes: int = Field(default=64 * 1024, ge=1, alias="MAX_BODY_BYTES")
    # A bounded request head, bounded read times, and a shutdown that ends (todo_api/server.py).
    # Small values are allowed so that tests can reach them quickly.
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
