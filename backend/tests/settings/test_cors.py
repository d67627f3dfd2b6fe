"""settings/cors.py: exact browser origins, never a wildcard or a bare host."""

from __future__ import annotations

import pytest

from todo_api.settings import ConfigError, load_settings

pytestmark = pytest.mark.unit


GOOD = "a-perfectly-good-development-secret-0123456789"


def problem(**env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, **env)
    return str(caught.value)


@pytest.mark.parametrize("origins", ["*", "localhost:3000", "http://ok.example,*"])
def test_cors_wildcard_or_bare_host_is_refused(origins: str) -> None:
    assert "CORS_ORIGINS" in problem(BETTER_AUTH_SECRET=GOOD, CORS_ORIGINS=origins)
