"""settings/server.py: the HTTP server's bounds; one out of bounds stops the server naming the
variable."""

from __future__ import annotations

import pytest

from todo_api.settings import ConfigError, load_settings

pytestmark = pytest.mark.unit


GOOD = "a-perfectly-good-development-secret-0123456789"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MAX_HEADER_BYTES", "100"),
        ("MAX_HEADER_BYTES", "10000000"),
        ("HEADER_TIMEOUT_SECONDS", "0"),
        ("BODY_TIMEOUT_SECONDS", "-1"),
        ("SHUTDOWN_GRACE_SECONDS", "-1"),
        ("SHUTDOWN_GRACE_SECONDS", "2.5"),
    ],
)
def test_limits_out_of_bounds_stop_the_server_naming_the_variable(
    variable: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings(_env_file=None, BETTER_AUTH_SECRET=GOOD, **{variable: value})
