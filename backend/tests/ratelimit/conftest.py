"""The rate-limit modules' fixtures: a clock the test moves and a limiter counting in memory on
it."""

from __future__ import annotations

import pytest

from fixtures.limits import Clock
from todo_api.ratelimit.counters import MemoryCounters
from todo_api.ratelimit.limiter import Limiter


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def memory_limiter(clock: Clock) -> Limiter:
    return Limiter(MemoryCounters(clock=clock), clock=clock)
