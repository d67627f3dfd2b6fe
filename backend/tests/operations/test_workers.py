"""`todo-api serve --workers N`: real worker processes on one port, started by deploying.md's
recipes as written. One budget across workers (Redis), every request logged once with its
worker's pid and counted once in the metrics, in-memory budgets refused, and SIGTERM ending every
worker and the parent within the documented bound."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fixtures.api import mint
from fixtures.doc_recipes import recipe
from fixtures.live_server import CLI, child_env, free_port, write_dotenv

pytestmark = pytest.mark.server

REDIS = os.environ.get("TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(
    REDIS is None, reason="needs Redis: set TEST_REDIS_URL (`.ci/run` does)"
)
WORKERS = 2
START_SECONDS = 60  # two workers importing everything on a busy machine

# Wall-clock bounds under the parallel suite's own load (`make test -n 4` on two cores, with
# other work on the machine): 1 s was overrun at a load average of 12 (research F2). What the
# bound tells apart still ends far outside it: a supervisor that waits for its workers' own 10 s
# default, or never passes the signal on.
SCHEDULING_ALLOWANCE = 3.0


@dataclass
class Instance:
    process: subprocess.Popen[str]
    base: str
    log: Path

    def lines(self) -> list[dict[str, Any]]:
        """The JSON log lines so far (uvicorn's own lines are text: skipped)."""
        found = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                found.append(json.loads(line))
        return found

    def ready_workers(self) -> set[int]:
        return {line["pid"] for line in self.lines() if line["msg"] == "ready"}

    def access_lines(self, user: str) -> list[dict[str, Any]]:
        return [
            line
            for line in self.lines()
            if line["logger"] == "todo_api.access" and line.get("user_id") == user
        ]


def _wait_for_workers(instance: Instance) -> set[int]:
    """Both workers have started (each logs "ready" with its pid) and the port answers."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if instance.process.poll() is not None:
            raise RuntimeError(f"server exited: {instance.log.read_text()[-2000:]}")
        pids = instance.ready_workers()
        if len(pids) == WORKERS:
            assert httpx.get(f"{instance.base}/healthz").status_code == 200
            return pids
        time.sleep(0.1)
    raise RuntimeError(f"workers not ready in time: {instance.log.read_text()[-2000:]}")


@contextmanager
def running(
    command: str, workdir: Path, settings: Mapping[str, str] | None = None, **variables: str
) -> Iterator[Instance]:
    """A recipe of deploying.md, run by bash in `workdir` (its .env) with the variables it
    names: $HOST, $PORT and $WORKERS here, $REDIS_URL the tests' Redis, plus `variables`."""
    workdir.mkdir(parents=True, exist_ok=True)
    write_dotenv(workdir, settings=settings)
    port = free_port()
    env = child_env() | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKERS": str(WORKERS),
        "REDIS_URL": REDIS or "",
        **variables,
    }
    log = workdir / "server.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=workdir,
            env=env,
            stdout=output,
            stderr=output,
            text=True,
            start_new_session=True,  # its own group: the stop reaches bash and the server
        )
    instance = Instance(process, f"http://127.0.0.1:{port}", log)
    try:
        _wait_for_workers(instance)
        yield instance
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _requests_until_both_workers_answered(
    instance: Instance, user: str, round_size: int
) -> list[httpx.Response]:
    """Rounds of concurrent requests, each on a new connection so that the kernel hands them to
    either worker, until the access lines show both workers answered some."""
    headers = {"Authorization": f"Bearer {mint(user, ttl=600)}", "Connection": "close"}

    def one(_: int) -> httpx.Response:
        return httpx.get(f"{instance.base}/api/{user}/tasks", headers=headers)

    answers: list[httpx.Response] = []
    for _ in range(10):  # usually one round
        with ThreadPoolExecutor(8) as pool:
            answers += pool.map(one, range(round_size))
        if len({line["pid"] for line in _access_lines(instance, user, len(answers))}) == WORKERS:
            break
    return answers


def _access_lines(instance: Instance, user: str, expected: int) -> list[dict[str, Any]]:
    """The user's access lines, once `expected` have been written (the event loop writes them
    after the answers, in its next iteration), or what there is after a while."""
    deadline = time.monotonic() + 10
    while True:
        lines = instance.access_lines(user)
        if len(lines) >= expected or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


@needs_redis
def test_two_workers_on_redis_admit_exactly_the_budget_and_log_every_request_once(
    tmp_path: Path,
) -> None:
    user = f"worker-test-{uuid.uuid4().hex[:12]}"  # a budget of its own in the shared Redis
    budget = 20
    with running(recipe("workers"), tmp_path, {"RATE_LIMIT": f"{budget}/minute"}) as served:
        workers = served.ready_workers()
        answers = _requests_until_both_workers_answered(served, user, round_size=30)
        statuses = [answer.status_code for answer in answers]
        # One budget, whichever worker answered: not `budget` per worker.
        assert statuses.count(200) == budget
        assert statuses.count(429) == len(answers) - budget
        # One JSON access line per request, from both workers, each with the id its client got.
        lines = _access_lines(served, user, len(answers))
        assert len(lines) == len(answers)
        assert {line["pid"] for line in lines} == workers
        assert sorted(line["request_id"] for line in lines) == sorted(
            answer.headers["x-request-id"] for answer in answers
        )
        assert sorted(line["status"] for line in lines) == sorted(statuses)


@needs_redis
def test_the_metrics_port_of_an_instance_serves_the_sum_of_its_workers(tmp_path: Path) -> None:
    user = f"worker-test-{uuid.uuid4().hex[:12]}"
    metrics_port = free_port()
    scratch = tmp_path / "tmp"  # where `serve` makes its private multiprocess directory
    scratch.mkdir()
    variables = {"METRICS_PORT": str(metrics_port), "TMPDIR": str(scratch)}
    with running(recipe("instances"), tmp_path / "instance", **variables) as served:
        answers = _requests_until_both_workers_answered(served, user, round_size=40)
        assert {answer.status_code for answer in answers} == {200}
        assert len({line["pid"] for line in _access_lines(served, user, len(answers))}) == 2
        # Whichever worker holds the port, each scrape counts every worker's answers once.
        for _ in range(3):
            text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
            assert _listed_tasks(text) == len(answers)
        (directory,) = scratch.glob("todo-api-metrics-*")
        assert any(directory.iterdir())
    # Made for this run, and gone with it: the next start counts from zero.
    assert not list(scratch.iterdir())


def _listed_tasks(exposition: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "todo_api_requests_total"
        and sample.labels == {"operation": "listTasks", "status": "200"}
    )


@pytest.mark.parametrize("asked_by", ["--workers", "WEB_CONCURRENCY"])
def test_two_workers_with_in_memory_budgets_refuse_to_start_naming_the_store(
    tmp_path: Path, asked_by: str
) -> None:
    write_dotenv(tmp_path)  # .env.example's defaults: memory:// counters, every budget on
    flag = ["--workers", "2"] if asked_by == "--workers" else []
    env = {k: v for k, v in child_env().items() if k != "WEB_CONCURRENCY"}
    result = subprocess.run(
        [*CLI, "serve", "--port", str(free_port()), *flag],
        cwd=tmp_path,
        env=env | ({"WEB_CONCURRENCY": "2"} if not flag else {}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("todo-api: RATE_LIMIT_STORAGE_URL keeps the rate-limit counters in")
    assert "RATE_LIMIT_PER_PROCESS=true" in line


def test_chosen_per_process_budgets_start_and_sigterm_ends_every_worker_in_time(
    tmp_path: Path,
) -> None:
    grace = 2
    settings = {"RATE_LIMIT_PER_PROCESS": "true", "SHUTDOWN_GRACE_SECONDS": str(grace)}
    write_dotenv(tmp_path, settings=settings)
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [*CLI, "serve", "--workers", "2", "--port", str(port), "--demo-user", "demo-user"],
            cwd=tmp_path,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        instance = Instance(process, f"http://127.0.0.1:{port}", log)
        workers = _wait_for_workers(instance)
        # Requests under way: creates whose body has not arrived, in whichever worker took them.
        token = mint("demo-user", ttl=600)
        head = (
            "POST /api/demo-user/tasks HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: 100\r\n\r\n"
        ).encode()
        clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(4)]
        for client in clients:
            client.sendall(head)
        time.sleep(0.3)  # let the workers read the heads
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        # Each waits as one process would, then answers the unfinished request itself.
        for client in clients:
            assert client.recv(4096).startswith(b"HTTP/1.1 408 ")
            client.close()
        # The documented bound is grace + 1 s, and SCHEDULING_ALLOWANCE for a busy machine's
        # scheduler; waited for longer, so that a failure says how long it took.
        process.wait(timeout=grace + 15)
        took = time.monotonic() - started
        assert took <= grace + 1 + SCHEDULING_ALLOWANCE, f"SIGTERM to exit took {took:.1f} s"
        assert process.returncode == 143  # as a shell reports a process ended by SIGTERM
        for pid in workers:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        assert process.stdout is not None
        printed = process.stdout.read()
        assert printed.count("curl -i -H") == 1  # the demo curl, once for all workers
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_workers_of_a_parent_killed_outright_stop_by_themselves(tmp_path: Path) -> None:
    write_dotenv(tmp_path, settings={"RATE_LIMIT_PER_PROCESS": "true"})
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [*CLI, "serve", "--workers", "2", "--port", str(port)],
            cwd=tmp_path,
            env=child_env() | {"SHUTDOWN_GRACE_SECONDS": "1"},
            stdout=output,
            stderr=output,
            text=True,
        )
    workers = _wait_for_workers(Instance(process, f"http://127.0.0.1:{port}", log))
    process.kill()  # no SIGTERM for the workers from a parent that is gone
    process.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers):
        assert time.monotonic() < deadline, "orphaned workers kept serving"
        time.sleep(0.1)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz")


def _alive(pid: int) -> bool:
    """Not yet ended (an orphan is reaped by init once it ends)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
