"""settings/observability.py: the metrics listener is off by default, on loopback when on, on a
valid port."""

import pytest

from todo_api.settings import ConfigError, load_settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("port", ["0", "65536", "nine"])
def test_metrics_port_out_of_range_is_refused(port: str) -> None:
    with pytest.raises(ConfigError, match="METRICS_PORT"):
        load_settings(
            _env_file=None, BETTER_AUTH_SECRET="x" * 40 + "-not-a-placeholder", METRICS_PORT=port
        )


def test_metrics_are_off_by_default_and_on_loopback_when_on() -> None:
    settings = load_settings(_env_file=None, BETTER_AUTH_SECRET="y" * 40 + "-not-a-placeholder")
    assert settings.metrics_port is None
    assert settings.metrics_host == "127.0.0.1"
