"""metrics.py: the label values, bounded sets taken from the verifier and the contract."""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine

from fixtures.fake_issuer import new_key, public_jwk
from todo_api import auth
from todo_api.auth.keys import JwksCache
from todo_api.metrics import (
    AUTH_FAILURE_REASONS,
    OTHER_REASON,
    Metrics,
    _forget_dead_workers,
    reason_label,
    spec_operations,
)
from todo_api.spec import load_spec

pytestmark = pytest.mark.unit

AUTH = Path(auth.__file__).parent
_RAISED = re.compile(r'(?:AuthError|InvalidToken|super\(\)\.__init__)\(\s*"([^"]+)"')


def test_the_reason_set_is_exactly_what_the_verifier_and_middleware_raise() -> None:
    raised = set()
    for module in ("tokens.py", "middleware.py", "identity.py"):
        raised |= set(_RAISED.findall((AUTH / module).read_text()))
    assert raised == AUTH_FAILURE_REASONS


def test_each_reason_has_its_own_label_and_anything_else_is_other() -> None:
    labels = {reason_label(reason) for reason in AUTH_FAILURE_REASONS}
    assert len(labels) == len(AUTH_FAILURE_REASONS)
    assert all(re.fullmatch(r"[a-z0-9_]+", label) for label in labels)
    assert reason_label("invalid claim: sub") == "invalid_claim_sub"
    assert reason_label("something new, with a user's input") == OTHER_REASON


def _operation(method: str, path: str) -> str | None:
    for operation_method, pattern, operation_id in spec_operations():
        if operation_method == method and pattern.match(path):
            return operation_id
    return None


def test_requests_are_matched_to_the_contracts_operations() -> None:
    declared = {
        operation["operationId"]
        for item in load_spec()["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    assert {operation_id for _, _, operation_id in spec_operations()} == declared
    assert _operation("GET", "/api/alice/tasks") == "listTasks"
    assert _operation("PATCH", "/api/alice/tasks/3") == "updateTask"
    assert _operation("PATCH", "/api/alice/tasks/3/complete") == "toggleTaskCompletion"
    assert _operation("GET", "/api/alice/tasks/3/extra") is None
    assert _operation("GET", "/api/alice/tasks/") is None
    assert _operation("TRACE", "/api/alice/tasks") is None


@pytest.mark.anyio
async def test_sampled_gauges_show_the_pool_and_the_jwks_age(tmp_path: Path) -> None:
    now = [1000.0]
    keys = {"keys": [public_jwk(new_key("EdDSA"), "EdDSA", "k1")]}  # a usable key: it is kept
    jwks = JwksCache(
        "https://auth.example/api/auth/jwks",
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json=keys)),
        clock=lambda: now[0],
    )
    engine = create_engine(f"sqlite:///{tmp_path}/pool.db", pool_size=3)
    metrics = Metrics("127.0.0.1", 9, engine, jwks)

    def gauge(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    metrics.sample()
    assert gauge("todo_api_jwks_age_seconds") == math.inf  # never fetched
    assert await jwks.refresh()
    now[0] += 42
    with engine.connect():
        metrics.sample()
        assert gauge("todo_api_jwks_age_seconds") == 42
        assert gauge("todo_api_db_pool_connections", state="in_use") == 1
    metrics.sample()
    assert gauge("todo_api_db_pool_connections", state="in_use") == 0
    assert gauge("todo_api_db_pool_connections", state="idle") == 1
    engine.dispose()


def test_the_live_gauges_of_dead_workers_are_dropped_and_their_counters_kept(
    tmp_path: Path,
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid names no process now
    alive = os.getpid()
    names = [
        f"gauge_livesum_{dead.pid}.db",
        f"gauge_livemax_{dead.pid}.db",
        f"counter_{dead.pid}.db",
        f"gauge_livesum_{alive}.db",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    _forget_dead_workers(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"counter_{dead.pid}.db", f"gauge_livesum_{alive}.db"]
    )
