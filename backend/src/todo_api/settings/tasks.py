"""Task settings: what the task service enforces (the quota, If-Match, Idempotency-Key answers)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

from todo_api.ratelimit.policy import OFF
from todo_api.settings.env import EnvSettings

# Expired Idempotency-Key answers are purged at least this often (never replayed once expired).
LONGEST_PURGE_INTERVAL_SECONDS = 300


def _off_is_none(value: object) -> object:
    return None if isinstance(value, str) and value.strip().lower() == OFF else value


class TaskSettings(EnvSettings):
    """The rules of the task service that an operator may tune."""

    # Tasks one user may hold (409 beyond), or `off`: an abuse limit counted in storage.
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

    def purge_interval(self) -> float:
        """Expired Idempotency-Key answers go within five minutes (sooner for a shorter TTL);
        they are never replayed once expired, whenever the purge comes."""
        return float(min(self.idempotency_ttl_seconds, LONGEST_PURGE_INTERVAL_SECONDS))
