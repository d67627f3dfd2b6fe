"""Rate limit policies: `N/second|minute|hour` settings, and their IETF RateLimit header fields.

The header syntax is draft-ietf-httpapi-ratelimit-headers (Structured Field lists): a policy is
`"name";q=<quota>;w=<window seconds>`, its state `"name";r=<remaining>;t=<seconds to reset>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {"second": 1, "minute": 60, "hour": 3600}
_RATE = re.compile(r"\s*([0-9]{1,9})\s*/\s*(second|minute|hour)\s*")
OFF = "off"


@dataclass(frozen=True, slots=True)
class Rate:
    """At most `amount` per `seconds`."""

    amount: int
    seconds: int

    def __str__(self) -> str:
        unit = next(name for name, seconds in _UNITS.items() if seconds == self.seconds)
        return f"{self.amount}/{unit}"


def parse_rate(value: object) -> object:
    """`N/second|minute|hour` as a Rate, `off` as None; anything else is left for the caller to
    refuse (a pydantic `BeforeValidator`)."""
    if not isinstance(value, str):
        return value
    if value.strip().lower() == OFF:
        return None
    match = _RATE.fullmatch(value)
    if match is None or int(match[1]) < 1:
        raise ValueError("use N/second, N/minute or N/hour with N >= 1, or off")
    return Rate(int(match[1]), _UNITS[match[2]])


@dataclass(frozen=True, slots=True)
class Policy:
    """A named budget: `rate` per key (a user, a client address)."""

    name: str
    rate: Rate

    @property
    def header(self) -> str:
        """This policy as a `RateLimit-Policy` list member."""
        return f'"{self.name}";q={self.rate.amount};w={self.rate.seconds}'


@dataclass(frozen=True, slots=True)
class Usage:
    """A policy's state for one key after a request: what is left and when the window resets."""

    policy: Policy
    allowed: bool
    remaining: int
    reset_seconds: int

    @property
    def header(self) -> str:
        """This state as a `RateLimit` list member."""
        return f'"{self.policy.name}";r={self.remaining};t={self.reset_seconds}'


def policy_header(usages: list[Usage]) -> str:
    return ", ".join(usage.policy.header for usage in usages)


def state_header(usages: list[Usage]) -> str:
    return ", ".join(usage.header for usage in usages)
