"""The tests' PgBouncer (backend/tests/pgbouncer.py): found off PATH, named when missing, and
configured by docs/deploying.md's recipe alone."""

from __future__ import annotations

import pytest

import pgbouncer


def test_a_missing_pgbouncer_fails_with_the_line_that_installs_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pgbouncer, "CANDIDATES", ("no-such-pgbouncer", "/nowhere/pgbouncer"))
    with pytest.raises(pgbouncer.PgBouncerMissing, match=r"apt-get install -y pgbouncer"):
        pgbouncer.executable()


def test_the_documented_config_is_transaction_mode_with_every_placeholder_filled() -> None:
    settings = {
        "DB_HOST": "db.internal",
        "DB_PORT": "5432",
        "LISTEN_ADDR": "10.0.0.5",
        "LISTEN_PORT": "6432",
        "AUTH_FILE": "/etc/pgbouncer/userlist.txt",
    }
    ini = pgbouncer.config(settings)
    assert "$" not in ini
    assert pgbouncer.setting("pool_mode") == "transaction"
    # 1.18 has no prepared-statement support in transaction mode, and the product needs none.
    assert "max_prepared_statements" not in ini
    with pytest.raises(KeyError, match="AUTH_FILE"):  # a placeholder left unfilled
        pgbouncer.config({k: v for k, v in settings.items() if k != "AUTH_FILE"})
