"""dependencies.py on a real server: when the database, the rate-limit store or the disk stops
answering, the log says it once and once more when it is back, the gauge follows, /readyz and the
answers say what they should, and every acknowledged write reads back.

Each fault is made for real and undone by the test: a PostgreSQL database that refuses
connections, a private redis-server stopped and started again, a small tmpfs filled and freed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from fixtures import pg_databases
from fixtures.api import SECRET, mint
from fixtures.live_server import CLI, Server, child_env, free_port, running_server
from fixtures.pg_databases import database_away
from todo_api.db.disk import MIN_FREE_BYTES

pytestmark = pytest.mark.server

T = TypeVar("T")
ALICE = {"Authorization": f"Bearer {mint('alice', ttl=3600)}"}
TASKS = "/api/alice/tasks"
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="mounts a small tmpfs to fill: needs root (CI runs as root)"
)


def eventually(probe: Callable[[], T | None], what: str, seconds: float = 15) -> T:
    """`probe()` once it is not None: the log writer and the gauge's sampler run on their own."""
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.1)


def said(log: Path, dependency: str) -> list[dict[str, Any]]:
    """The server's JSON log lines about `dependency`."""
    lines = []
    for line in log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("dependency") == dependency:
            lines.append(entry)
    return lines


def down_then_back(log: Path, dependency: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Exactly one error line when it stopped answering and one info line when it came back."""
    lines = eventually(
        lambda: said(log, dependency) if len(said(log, dependency)) >= 2 else None,
        f"two lines about {dependency}",
    )
    assert [line["level"] for line in lines] == ["error", "info"], lines
    down, back = lines
    assert down["reason"]
    assert down["reason"] == back["reason"]
    assert back["down_seconds"] > 0
    assert back["failures"] >= 1
    return down, back


def gauge(metrics: str, dependency: str) -> float | None:
    text = httpx.get(f"{metrics}/metrics").text
    for family in text_string_to_metric_families(text):
        if family.name == "todo_api_dependency_up":
            for sample in family.samples:
                if sample.labels.get("dependency") == dependency:
                    return sample.value
    return None


def gauge_reads(server: Server, metrics: str, dependency: str, value: float) -> None:
    eventually(
        lambda: True if gauge(metrics, dependency) == value else None,
        f"todo_api_dependency_up{{dependency={dependency!r}}} == {value}",
    )


@contextmanager
def serving(
    workdir: Path, database_url: str | None = None, **settings: str
) -> Iterator[tuple[Server, str, httpx.Client]]:
    """`todo-api serve` with its metrics port; a client of its API."""
    metrics_port = free_port()
    env = {"METRICS_PORT": str(metrics_port), **settings}
    with (
        running_server(workdir, database_url, env) as server,
        httpx.Client(base_url=server.base, timeout=10) as client,
    ):
        yield server, f"http://127.0.0.1:{metrics_port}", client


def create(client: httpx.Client, title: str) -> int:
    created = client.post(TASKS, json={"title": title}, headers=ALICE)
    assert created.status_code == 201, created.text
    task_id: int = created.json()["id"]
    return task_id


def titles(client: httpx.Client) -> list[str]:
    listed = client.get(TASKS, params={"limit": 100}, headers=ALICE)
    assert listed.status_code == 200, listed.text
    return [task["title"] for task in listed.json()["items"]]


def assert_503_with_retry_after(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == "2"


def test_postgresql_away_is_one_line_down_one_line_back_and_loses_nothing(
    tmp_path: Path, postgres: pg_databases.Database
) -> None:
    with serving(tmp_path, postgres.app_url) as (server, metrics, client):
        create(client, "before")
        gauge_reads(server, metrics, "database", 1)
        with database_away(postgres):
            for _ in range(5):
                assert_503_with_retry_after(client.get(TASKS, headers=ALICE))
                assert_503_with_retry_after(
                    client.post(TASKS, json={"title": "refused"}, headers=ALICE)
                )
            assert_503_with_retry_after(client.get("/readyz"))
            assert client.get("/healthz").status_code == 200
            gauge_reads(server, metrics, "database", 0)
        assert client.get("/readyz").status_code == 200
        create(client, "after")
        assert titles(client) == ["after", "before"]
        gauge_reads(server, metrics, "database", 1)
        down, back = down_then_back(server.log, "database")
    assert "not currently accepting connections" in down["reason"]
    assert back["failures"] >= 10


@contextmanager
def redis_server(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A redis-server of this test's own: the shared one is never stopped."""
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        eventually(lambda: True if _answers(port) else None, f"redis-server on {port}")
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def _answers(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as probe:
            probe.sendall(b"PING\r\n")
            return probe.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def test_redis_stopped_and_started_is_one_line_each_and_requests_are_served(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with (
        redis_server(port) as redis,
        serving(tmp_path, RATE_LIMIT_STORAGE_URL=url) as (
            server,
            metrics,
            client,
        ),
    ):
        assert "ratelimit" in client.get(TASKS, headers=ALICE).headers
        gauge_reads(server, metrics, "rate_limit_store", 1)
        redis.terminate()
        redis.wait(timeout=10)
        # Fail open: served, uncounted (no RateLimit field), and the probe stays ready. Spread
        # over more than the second the store is left alone after a failure: it fails again.
        for i in range(5):
            served = client.get(TASKS, headers=ALICE)
            assert served.status_code == 200
            assert "ratelimit" not in served.headers
            create(client, f"during {i}")
            time.sleep(0.5)
        assert client.get("/readyz").status_code == 200
        gauge_reads(server, metrics, "rate_limit_store", 0)
        with redis_server(port):
            # The store is tried again a second after a failure: counted again soon.
            eventually(
                lambda: True if "ratelimit" in client.get(TASKS, headers=ALICE).headers else None,
                "requests counted again",
            )
            gauge_reads(server, metrics, "rate_limit_store", 1)
            assert sorted(titles(client)) == [f"during {i}" for i in range(5)]
            down, back = down_then_back(server.log, "rate_limit_store")
    assert "ConnectionError" in down["reason"]
    assert back["failures"] >= 2


@contextmanager
def small_disk(directory: Path, megabytes: int = 8) -> Iterator[Path]:
    directory.mkdir(parents=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(directory)], check=True
    )
    try:
        yield directory
    finally:
        # Lazy: a server that is still closing its files must not keep the mount.
        subprocess.run(["umount", "-l", str(directory)], check=True)


def fill(directory: Path, leave: int = 0) -> Path:
    """A file that takes every free block of `directory`'s filesystem, or all but `leave` bytes."""
    ballast = directory / "ballast"
    descriptor = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o600)
    if leave:
        try:
            stats = os.statvfs(directory)
            left = stats.f_bavail * stats.f_frsize - leave
            while left > 0:
                left -= os.write(descriptor, b"\0" * min(left, 65536))
        finally:
            os.close(descriptor)
        return ballast
    try:
        while True:
            os.write(descriptor, b"\0" * 65536)
    except OSError:
        pass
    try:
        while True:  # the last blocks, smaller than the chunk above
            os.write(descriptor, b"\0" * 512)
    except OSError:
        pass
    finally:
        os.close(descriptor)
    return ballast


@needs_root
def test_sqlite_disk_full_refuses_writes_507_reads_on_and_recovers_when_freed(
    tmp_path: Path,
) -> None:
    with (
        small_disk(tmp_path / "disk") as disk,
        serving(tmp_path / "server", f"sqlite:///{disk}/todo.db") as (server, metrics, client),
    ):
        create(client, "before")
        assert client.get("/readyz").status_code == 200
        # Room left for SQLite's next pages, not for the log between two checkpoints: writes are
        # refused by the rule, not by whether a write happens to fit (research P39).
        ballast = fill(disk, leave=MIN_FREE_BYTES // 4)
        for method, path, body in (
            ("POST", TASKS, {"title": "refused"}),
            ("POST", TASKS, {"title": "refused again"}),
            ("PATCH", f"{TASKS}/1", {"title": "changed"}),
        ):
            refused = client.request(method, path, json=body, headers=ALICE)
            assert refused.status_code == 507, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["type"] == "urn:todo-api:problem:storage-full"
        assert titles(client) == ["before"]  # reads are served, nothing half-written
        assert_503_with_retry_after(client.get("/readyz"))
        gauge_reads(server, metrics, "disk", 0)
        gauge_reads(server, metrics, "database", 1)  # the database itself answers
        ballast.unlink()
        # No write needed: the probe sees the space back by itself.
        assert client.get("/readyz").status_code == 200
        gauge_reads(server, metrics, "disk", 1)
        create(client, "after")
        assert titles(client) == ["after", "before"]
        down, back = down_then_back(server.log, "disk")
    assert f"bytes free, below {MIN_FREE_BYTES}" in down["reason"]
    assert back["failures"] >= 3
    assert said(server.log, "database") == []


@contextmanager
def tasks_on_a_small_disk(database: pg_databases.Database, megabytes: int = 8) -> Iterator[Path]:
    """`database`'s tasks table and its indexes moved to a tablespace on a small tmpfs of their
    own (the server runs on this machine, as in CI): PostgreSQL's data directory is never filled.
    """
    directory = Path(tempfile.mkdtemp(prefix="todo-pg-disk-"))
    directory.chmod(0o755)  # the server's user reaches the mount through it
    tablespace = f"todo_small_{directory.name.replace('-', '_')}"
    with small_disk(directory / "disk", megabytes) as disk:
        shutil.chown(disk, "postgres", "postgres")
        admin = create_engine(database.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f"CREATE TABLESPACE {tablespace} LOCATION '{disk}'"))
                connection.execute(text(f"ALTER TABLE tasks SET TABLESPACE {tablespace}"))
                indexes = connection.execute(
                    text("SELECT indexname FROM pg_indexes WHERE tablename = 'tasks'")
                ).scalars()
                for index in list(indexes):
                    connection.execute(text(f'ALTER INDEX "{index}" SET TABLESPACE {tablespace}'))
            yield disk
        finally:
            admin.dispose()
            # The tablespace goes before the mount, and only empty: the database goes first.
            server = create_engine(str(pg_databases.ADMIN_URL), isolation_level="AUTOCOMMIT")
            with server.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)'))
                connection.execute(text(f"DROP TABLESPACE IF EXISTS {tablespace}"))
            server.dispose()


@needs_root
def test_postgresql_disk_full_refuses_writes_507_serves_reads_and_recovers_on_a_write(
    tmp_path: Path,
) -> None:
    if not pg_databases.ADMIN_URL:
        pytest.skip("PostgreSQL-only: set TEST_DATABASE_URL (`.ci/run` does)")
    database = pg_databases.cluster().create_database("disk")
    with (
        tasks_on_a_small_disk(database) as disk,
        serving(tmp_path, database.app_url) as (server, metrics, client),
    ):
        create(client, "before")
        ballast = fill(disk)
        # The pages the table already has take rows until they are full: write until the
        # server needs a page more, which the disk refuses.
        acknowledged = ["before"]
        for attempt in range(2000):
            answer = client.post(TASKS, json={"title": f"row {attempt}"}, headers=ALICE)
            if answer.status_code != 201:
                break
            acknowledged.append(f"row {attempt}")
        assert answer.status_code == 507, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == "urn:todo-api:problem:storage-full"
        assert "retry-after" not in answer.headers
        refused = client.post(TASKS, json={"title": "refused again"}, headers=ALICE)
        assert refused.status_code == 507, refused.text
        # Reads are served and every acknowledged write is there, nothing half-written.
        assert sorted(task_titles(client)) == sorted(acknowledged)
        # Ready: the disk is the server's, shared by every instance; readiness is the reads'.
        assert client.get("/readyz").status_code == 200
        gauge_reads(server, metrics, "disk", 0)
        gauge_reads(server, metrics, "database", 1)
        ballast.unlink()
        create(client, "after")  # the first write taken is the sign the disk is back
        gauge_reads(server, metrics, "disk", 1)
        assert sorted(task_titles(client)) == sorted([*acknowledged, "after"])
        down, back = down_then_back(server.log, "disk")
    assert "No space left on device" in down["reason"]
    assert back["failures"] >= 2
    assert said(server.log, "database") == []


def task_titles(client: httpx.Client) -> list[str]:
    """Every title of Alice's, page after page."""
    found: list[str] = []
    params: dict[str, str | int] = {"limit": 100}
    while True:
        page = client.get(TASKS, params=params, headers=ALICE)
        assert page.status_code == 200, page.text
        found += [task["title"] for task in page.json()["items"]]
        cursor = page.json().get("next_cursor")
        if not cursor:
            return found
        params = {"limit": 100, "cursor": cursor}


def _serve_once(workdir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [*CLI, "serve", "--port", str(free_port())],
        cwd=workdir,
        env=child_env() | {"BETTER_AUTH_SECRET": SECRET, **env},
        capture_output=True,
        text=True,
        timeout=40,
    )


@needs_root
def test_starting_on_a_full_disk_stops_at_once_with_one_clear_line(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", megabytes=1) as disk:
        fill(disk)
        # Waiting would be pointless: with a two-minute start-up wait, the subprocess's 40 s
        # timeout catches a server that mistakes a full disk for a database not up yet.
        result = _serve_once(
            tmp_path / "server",
            DATABASE_URL=f"sqlite:///{disk}/todo.db",
            DB_STARTUP_TIMEOUT="120",
        )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("todo-api: the disk of the database at sqlite ")
    assert "is full" in lines[0]
    assert "DATABASE_URL" in lines[0]


def test_an_unreachable_redis_at_start_is_a_warning_and_the_server_serves(
    tmp_path: Path,
) -> None:
    url = f"redis://:pw-do-not-print@127.0.0.1:{free_port()}/0"
    with serving(tmp_path, RATE_LIMIT_STORAGE_URL=url) as (server, metrics, client):
        assert client.get(TASKS, headers=ALICE).status_code == 200
        gauge_reads(server, metrics, "rate_limit_store", 0)
        lines = eventually(
            lambda: said(server.log, "rate_limit_store") or None, "the start's warning"
        )
    assert [line["level"] for line in lines] == ["warning"]
    assert "RATE_LIMIT_STORAGE_URL" in lines[0]["msg"]
    assert "pw-do-not-print" not in server.log.read_text()


def test_an_unreachable_redis_at_start_is_refused_when_required(tmp_path: Path) -> None:
    url = f"redis://:pw-do-not-print@127.0.0.1:{free_port()}/0"
    result = _serve_once(tmp_path, RATE_LIMIT_STORAGE_URL=url, RATE_LIMIT_STORE_REQUIRED="true")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("todo-api: RATE_LIMIT_STORAGE_URL does not answer")
    assert "RATE_LIMIT_STORE_REQUIRED" in lines[0]
    assert "pw-do-not-print" not in result.stderr
