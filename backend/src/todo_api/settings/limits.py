"""Abuse-limit settings (OWASP API4): the budgets, where their counters live, who the client is."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import TYPE_CHECKING, Annotated, NamedTuple, Self
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from todo_api.ratelimit.policy import Policy, Rate, parse_rate
from todo_api.settings.env import CommaList, ConfigError, EnvSettings

if TYPE_CHECKING:
    from todo_api.ratelimit.counters import Counters

RateSetting = Annotated[Rate | None, BeforeValidator(parse_rate)]


class Budgets(NamedTuple):
    """The three budgets, each None when `off`."""

    requests: Policy | None
    writes: Policy | None
    auth_failures: Policy | None


def _policy(name: str, rate: Rate | None) -> Policy | None:
    return Policy(name, rate) if rate is not None else None


class LimitSettings(EnvSettings):
    """Budgets per user and per client address: `N/second|minute|hour`, or `off`."""

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
    # Whose X-Forwarded-For names the client whose failed authentications are counted.
    trusted_proxies: CommaList = Field(default=[], alias="TRUSTED_PROXIES")

    @field_validator("rate_limit_storage_url")
    @classmethod
    def _supported_counter_store(cls, value: str) -> str:
        if value != "memory://" and urlsplit(value).scheme not in {"redis", "rediss"}:
            raise ValueError(
                "RATE_LIMIT_STORAGE_URL must be memory:// or redis://host:port/db (rediss:// "
                "for TLS)"
            )
        return value

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

    @model_validator(mode="after")
    def _per_process_needs_memory(self) -> Self:
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
        if (
            processes > 1
            and self.rate_limit_storage_url == "memory://"
            and any(policy is not None for policy in self.budgets())
            and not self.rate_limit_per_process
        ):
            raise ConfigError(
                f"RATE_LIMIT_STORAGE_URL keeps the rate-limit counters in memory, and each of "
                f"the {processes} workers would count alone (up to {processes} times every "
                "limit): share them with RATE_LIMIT_STORAGE_URL=redis://host:port/db, or set "
                "RATE_LIMIT_PER_PROCESS=true to accept budgets per worker"
            )

    def budgets(self) -> Budgets:
        return Budgets(
            _policy("requests", self.rate_limit),
            _policy("writes", self.rate_limit_writes),
            _policy("auth-failures", self.rate_limit_auth_failures),
        )

    def counters(self) -> Counters:
        """The counter store RATE_LIMIT_STORAGE_URL names (a Redis client connects lazily)."""
        # Imported here: reading the settings needs no Redis client.
        from todo_api.ratelimit.counters import make_counters

        return make_counters(self.rate_limit_storage_url)

    def proxy_networks(self) -> list[IPv4Network | IPv6Network]:
        return [ip_network(entry, strict=False) for entry in self.trusted_proxies]
