"""workers.py: how many workers, from --workers or WEB_CONCURRENCY (the supervisor itself is
exercised with real processes in operations/test_workers.py)."""

from __future__ import annotations

import pytest

from todo_api.settings import ConfigError
from todo_api.workers import worker_count

pytestmark = pytest.mark.unit


def test_the_flag_wins_over_web_concurrency_and_one_is_the_default() -> None:
    assert worker_count(3, {"WEB_CONCURRENCY": "5"}) == 3
    assert worker_count(None, {"WEB_CONCURRENCY": " 5 "}) == 5
    assert worker_count(None, {"WEB_CONCURRENCY": ""}) == 1
    assert worker_count(None, {}) == 1


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_a_web_concurrency_that_is_no_count_is_named(value: str) -> None:
    with pytest.raises(ConfigError, match="WEB_CONCURRENCY must be a whole number"):
        worker_count(None, {"WEB_CONCURRENCY": value})


def test_zero_workers_is_refused() -> None:
    with pytest.raises(ConfigError, match="--workers"):
        worker_count(0, {})
