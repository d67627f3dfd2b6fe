"""A real PgBouncer in transaction mode in front of the tests' PostgreSQL, configured by the
recipe of docs/deploying.md ("Behind a transaction pooler"), so the page's configuration is the
one the pooled tests run through.

PgBouncer refuses to run as root: as root, it is started as the `postgres` user, in a directory of
its own that user can read. It runs in the foreground as a child of the test run and is stopped
(its files removed) at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from string import Template

from sqlalchemy.engine import make_url

from doc_recipes import recipe

# Debian installs it in /usr/sbin, which is not on every user's PATH.
CANDIDATES = ("pgbouncer", "/usr/sbin/pgbouncer")
INSTALL = "apt-get install -y pgbouncer"
RUN_AS = "postgres"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PgBouncerMissing(Exception):
    """PgBouncer is not installed: the pooled PostgreSQL tests cannot run."""


def executable() -> str:
    for candidate in CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise PgBouncerMissing(
        "TEST_DATABASE_URL is set, so the PostgreSQL tests also run through PgBouncer in "
        f"transaction mode, but pgbouncer is not installed (looked for {', '.join(CANDIDATES)}): "
        f"`{INSTALL}` (`.ci/run` does)"
    )


def config(settings: Mapping[str, str]) -> str:
    """docs/deploying.md's pgbouncer.ini with its `${NAME}` placeholders filled in."""
    return Template(recipe("pgbouncer.ini")).substitute(settings)


def setting(name: str) -> str:
    """The value the documented pgbouncer.ini gives `name`."""
    for line in recipe("pgbouncer.ini").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == name:
            return value.strip()
    raise KeyError(name)


class PgBouncer:
    """One PgBouncer on a free loopback port for the PostgreSQL server that `server_url` names;
    `users` are the roles (and passwords) it lets in."""

    def __init__(self, server_url: str, users: Mapping[str, str]) -> None:
        server = make_url(server_url)
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        self.auth_file = self.directory / "users.txt"
        self.ini = self.directory / "pgbouncer.ini"
        self.log = self.directory / "pgbouncer.log"
        self.settings = {
            "DB_HOST": server.host or "127.0.0.1",
            "DB_PORT": str(server.port or 5432),
            "LISTEN_ADDR": "127.0.0.1",
            "LISTEN_PORT": str(self.port),
            "AUTH_FILE": str(self.auth_file),
        }
        self._users = dict(users)
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        program = executable()
        self.auth_file.write_text("".join(f'"{u}" "{p}"\n' for u, p in self._users.items()))
        self.ini.write_text(config(self.settings))
        command = [program, str(self.ini)]
        if os.geteuid() == 0:
            shutil.chown(self.directory, RUN_AS)
            for path in (self.auth_file, self.ini):
                shutil.chown(path, RUN_AS)
                path.chmod(0o600)
            command = ["runuser", "-u", RUN_AS, "--", *command]
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._wait_for_port()

    def _wait_for_port(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited at start:\n{self.log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"pgbouncer did not listen on {self.port} within 10 s")

    def url(self, url: str) -> str:
        """`url` (a role and a database of the server) through this pooler instead."""
        pooled = make_url(url).set(host="127.0.0.1", port=self.port)
        return pooled.render_as_string(hide_password=False)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        shutil.rmtree(self.directory, ignore_errors=True)
