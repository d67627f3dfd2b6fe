"""Prometheus metrics of a real server: scraped from their own port, with one worker and two."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from fixtures.api import mint
from fixtures.live_server import CLI, child_env, free_port, write_dotenv

pytestmark = pytest.mark.server

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Served:
    api: str
    metrics: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def serving(workdir: Path, *, workers: int = 1, **env: str) -> Iterator[Served]:
    """`todo-api serve --workers N` with METRICS_PORT set (several: budgets per worker, chosen)."""
    write_dotenv(workdir, settings={"RATE_LIMIT_PER_PROCESS": "true"} if workers > 1 else None)
    port, metrics_port = free_port(), free_port()
    command = [*CLI, "serve", "--port", str(port), "--workers", str(workers)]
    log = workdir / "server.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=child_env() | {"METRICS_PORT": str(metrics_port)} | env,
            stdout=stderr,
            stderr=stderr,
        )
    served = Served(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}", process, log)
    try:
        _wait_until_answering(served)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_answering(served: Served) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise RuntimeError(f"server exited: {served.log.read_text()[-2000:]}")
        try:
            if (
                httpx.get(f"{served.api}/healthz").status_code == 200
                and httpx.get(f"{served.metrics}/metrics").status_code == 200
            ):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"no answer within 40 s: {served.log.read_text()[-2000:]}")


def scrape(served: Served) -> Samples:
    response = httpx.get(f"{served.metrics}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_counts_by_operation_status_and_reason_and_no_metrics_on_the_api_port(
    tmp_path: Path,
) -> None:
    alice = {"Authorization": f"Bearer {mint('alice')}"}
    budget = {"RATE_LIMIT_WRITES": "2/minute"}
    with serving(tmp_path, **budget) as served, httpx.Client(base_url=served.api) as api:
        for _ in range(3):
            assert api.get("/api/alice/tasks", headers=alice).status_code == 200
        # A write, though no route takes PUT there: it spends one of the two writes.
        assert api.put("/api/alice/tasks", headers=alice).status_code == 405
        created = [api.post("/api/alice/tasks", headers=alice, json={"title": "t"}) for _ in "ab"]
        assert [response.status_code for response in created] == [201, 429]
        for _ in range(2):
            assert api.get("/api/alice/tasks").status_code == 401
        expired = {"Authorization": f"Bearer {mint('alice', ttl=-3600)}"}
        assert api.get("/api/alice/tasks/1", headers=expired).status_code == 401
        garbage = {"Authorization": "Bearer not-a-jwt"}
        assert api.get("/api/alice/tasks", headers=garbage).status_code == 401
        assert api.get("/api/alice/tasks/999", headers=alice).status_code == 404
        # Never on the API's port: /metrics there is an unknown path like any other.
        assert api.get("/metrics").status_code == 404
        assert api.get(f"/no/such/path/{time.time_ns()}").status_code == 404

        samples = scrape(served)
        requests = "todo_api_requests_total"
        assert value(samples, requests, operation="listTasks", status="200") == 3
        assert value(samples, requests, operation="createTask", status="201") == 1
        assert value(samples, requests, operation="createTask", status="429") == 1
        assert value(samples, "todo_api_rate_limited_total", policy="writes") == 1
        assert value(samples, requests, operation="listTasks", status="401") == 3
        assert value(samples, requests, operation="getTask", status="401") == 1
        assert value(samples, requests, operation="getTask", status="404") == 1
        assert value(samples, requests, operation="unmatched", status="404") == 2
        assert value(samples, requests, operation="unmatched", status="405") == 1
        count = "todo_api_request_duration_seconds_count"
        assert value(samples, count, operation="listTasks") == 6
        failures = "todo_api_auth_failures_total"
        assert value(samples, failures, reason="missing_bearer_token") == 2
        assert value(samples, failures, reason="token_expired") == 1
        assert value(samples, failures, reason="malformed_token") == 1
        # Label values stay within the contract's operations, route names and `unmatched`.
        operations = {dict(labels)["operation"] for name, labels in samples if name == requests}
        assert operations == {"listTasks", "createTask", "getTask", "getHealth", "unmatched"}
        # The pool gauges are sampled every second; no JWKS is configured, so no JWKS age. On
        # SQLite each database thread keeps its connection checked out (research P23): whether
        # one shows as idle depends on timing, so the gauge is read as idle and in use together.
        deadline = time.monotonic() + 10
        pool = "todo_api_db_pool_connections"
        while value(samples, pool, state="idle") + value(samples, pool, state="in_use") < 1:
            assert time.monotonic() < deadline, "the pool gauge never showed a connection"
            time.sleep(0.2)
            samples = scrape(served)
        assert ("todo_api_jwks_age_seconds", frozenset()) not in samples


def test_two_workers_count_every_request_once_in_the_operators_directory(tmp_path: Path) -> None:
    directory = tmp_path / "prometheus"  # chosen by the operator: used as it is, left in place
    directory.mkdir()
    alice = {"Authorization": f"Bearer {mint('alice')}", "Connection": "close"}

    def one_request(_: int) -> int:
        # A new connection each time, so the kernel hands them to either worker.
        return httpx.get(f"{served.api}/api/alice/tasks", headers=alice).status_code

    with serving(tmp_path, workers=2, PROMETHEUS_MULTIPROC_DIR=str(directory)) as served:
        # The first worker answers while the second may still be starting (seconds on a busy
        # machine); each writes its pool gauge once its start-up is complete.
        deadline = time.monotonic() + 60
        while len(list(directory.glob("gauge_livesum_*.db"))) < 2:
            assert time.monotonic() < deadline, "the second worker never started"
            time.sleep(0.1)
        sent = 0
        for _ in range(10):  # rounds until both workers have answered some (usually the first)
            with ThreadPoolExecutor(8) as pool:
                assert set(pool.map(one_request, range(40))) == {200}
            sent += 40
            if len([n for n in _per_worker(directory).values() if n > 0]) >= 2:
                break
        # A worker counts a request once its response is sent (metrics.py): the last ones may
        # land just after the client has read them. Waited for, then counted exactly.
        deadline = time.monotonic() + 10
        while sum(_per_worker(directory).values()) < sent and time.monotonic() < deadline:
            time.sleep(0.05)
        per_worker = _per_worker(directory)
        assert len([n for n in per_worker.values() if n > 0]) == 2, per_worker
        assert sum(per_worker.values()) == sent
        # Whichever worker holds the port, each scrape reports the sum of both.
        for _ in range(3):
            samples = scrape(served)
            assert (
                value(samples, "todo_api_requests_total", operation="listTasks", status="200")
                == sent
            )
    assert list(directory.glob("counter_*.db")), "serve removed the operator's directory"


def _per_worker(directory: Path) -> dict[str, float]:
    """listTasks answers counted by each worker, read from its own file."""
    counts = {}
    for path in directory.glob("counter_*.db"):
        merged = MultiProcessCollector.merge([str(path)], accumulate=True)
        counts[path.name] = sum(
            sample.value
            for family in merged
            for sample in family.samples
            if sample.name == "todo_api_requests_total"
            and sample.labels.get("operation") == "listTasks"
        )
    return counts


def test_a_taken_metrics_port_stops_the_server_with_a_message(tmp_path: Path) -> None:
    write_dotenv(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = subprocess.run(
            [*CLI, "serve", "--port", str(free_port())],
            cwd=tmp_path,
            env=child_env() | {"METRICS_PORT": str(taken.getsockname()[1])},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert "METRICS_PORT" in result.stderr


def test_a_missing_multiprocess_directory_is_named(tmp_path: Path) -> None:
    write_dotenv(tmp_path)
    result = subprocess.run(
        [*CLI, "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=child_env()
        | {"METRICS_PORT": str(free_port()), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "none")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "PROMETHEUS_MULTIPROC_DIR is not a directory" in result.stderr
