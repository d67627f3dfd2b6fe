"""The floor: the mix's work with no framework, to measure the product against (issue 15).

A measuring stick, never product code. One bare ASGI app under the same uvicorn (uvloop,
httptools, no access log) that does exactly what a request of `bench/mix.lua` needs and nothing
else: the bearer token checked (HS256, with a cache of tokens already verified, never past
`exp`), the path's user equal to the token's `sub`, the same schema and the same SQL statements
as `todo_api/tasks/store.py` (owner filter, the quota's count inside the insert, the version
bump) through the standard library's `sqlite3`, and JSON out with pydantic-core's encoder.

What it leaves out is what the product's guarantees and conveniences cost: request ids and the
access log, CORS, body limits, rate limits, Server-Timing, strict validation of every input,
problem+json bodies, the served contract. Reads run on the event loop (a SELECT by index is tens
of microseconds); writes go to one writer thread with its own connection, so SQLite's write lock
is never contended inside the process and the commit's fsync never blocks the loop.

    python bench/floor.py --port P      (DATABASE_URL=sqlite:///..., BETTER_AUTH_SECRET=...)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import jwt
import uvicorn
from pydantic_core import to_json

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# The statements SQLAlchemy compiles from todo_api/tasks/store.py for SQLite, parameters in order.
# A task's id in the API is its number among its owner's tasks (migration 0005).
LIST = (
    "SELECT number, title, description, completed, due_at, priority, created_at, updated_at, "
    "version FROM tasks "
    "WHERE tasks.owner_id = ? ORDER BY tasks.number DESC LIMIT ? OFFSET ?"
)
GET = (
    "SELECT number, title, description, completed, due_at, priority, created_at, updated_at, "
    "version FROM tasks WHERE tasks.owner_id = ? AND tasks.number = ?"
)
NEXT_NUMBER = (
    "INSERT INTO task_counters (owner_id, last_number) VALUES (?, 1) "
    "ON CONFLICT (owner_id) DO UPDATE SET last_number = (task_counters.last_number + 1) "
    "RETURNING last_number"
)
CREATE = (
    "INSERT INTO tasks (owner_id, number, title, description, completed, created_at, updated_at) "
    "SELECT ?, ?, ?, ?, ?, ?, ? WHERE (SELECT count(*) FROM tasks WHERE tasks.owner_id = ?) < ? "
    "RETURNING number, title, description, completed, due_at, priority, created_at, updated_at, "
    "version"
)
TOGGLE = (
    "UPDATE tasks SET completed=tasks.completed = 0, updated_at=?, version=(tasks.version + 1) "
    "WHERE tasks.owner_id = ? AND tasks.number = ? "
    "RETURNING number, title, description, completed, due_at, priority, created_at, updated_at, "
    "version"
)
RENAME = (
    "UPDATE tasks SET title=?, updated_at=?, version=(tasks.version + 1) "
    "WHERE tasks.owner_id = ? AND tasks.number = ? "
    "RETURNING number, title, description, completed, due_at, priority, created_at, updated_at, "
    "version"
)
MAX_TASKS = 10_000  # the product's MAX_TASKS_PER_USER default
PRIORITIES = ("low", "normal", "high")  # by the rank the product stores
MAX_TASK_ID = 2**63 - 1
CACHE_SIZE = 16_384  # as the product's token cache
JSON_HEADERS = [(b"content-type", b"application/json")]


class Refused(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


def _stamp(value: str) -> str:
    """SQLAlchemy's SQLite text form (naive UTC) to the API's RFC 3339 form."""
    return f"{value[:10]}T{value[11:].removesuffix('.000000')}Z"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _task(row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "id": row[0],
        "title": row[1],
        "description": row[2],
        "completed": bool(row[3]),
        "due_at": None if row[4] is None else _stamp(row[4]),
        "priority": PRIORITIES[row[5]],
        "created_at": _stamp(row[6]),
        "updated_at": _stamp(row[7]),
        "version": row[8],
    }


def _connect(path: str) -> sqlite3.Connection:
    # Autocommit mode: BEGIN and COMMIT are written out where the product's driver implies them.
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=15)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA busy_timeout=15000")
    connection.execute("PRAGMA foreign_keys=ON")
    synchronous = os.environ.get("BENCH_SQLITE_SYNCHRONOUS")
    if synchronous in {"OFF", "NORMAL", "FULL"}:
        connection.execute(f"PRAGMA synchronous={synchronous}")
    return connection


class Floor:
    def __init__(self, database: str, secret: str) -> None:
        self.database = database
        self.secret = secret
        self.tokens: dict[str, tuple[str, int]] = {}
        self.reader: sqlite3.Connection | None = None
        self.writer_connection: sqlite3.Connection | None = None
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="writer")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        try:
            status, body, headers = await self._handle(scope, receive)
        except Refused as refused:
            status, body, headers = refused.status, b"{}", []
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    *JSON_HEADERS,
                    (b"content-length", str(len(body)).encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.reader = _connect(self.database)
                self.writer_connection = _connect(self.database)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.writer.shutdown(wait=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _subject(self, scope: Scope) -> str:
        token = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer":
                    raise Refused(401)
        if not token:
            raise Refused(401)
        now = int(time.time())
        cached = self.tokens.get(token)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            claims = jwt.decode(
                token, self.secret, algorithms=["HS256"], options={"require": ["exp", "sub"]}
            )
        except jwt.PyJWTError:
            raise Refused(401) from None
        if len(self.tokens) >= CACHE_SIZE:
            self.tokens.clear()
        self.tokens[token] = (claims["sub"], int(claims["exp"]))
        return str(claims["sub"])

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[int, bytes, list[Any]]:
        path: str = scope["path"]
        method: str = scope["method"]
        if path == "/readyz":
            return 200, b'{"status":"ready"}', []
        parts = path.split("/")  # "", "api", user, "tasks"[, id[, "complete"]]
        if len(parts) < 4 or parts[1] != "api" or parts[3] != "tasks" or len(parts) > 6:
            raise Refused(404)
        owner = parts[2]
        if self._subject(scope) != owner:
            raise Refused(403)
        if len(parts) == 4:
            if method == "GET":
                return 200, self._list(owner), []
            if method == "POST":
                title = _title(await _json(receive))
                row = await self._write(CREATE, (owner, title, None, 0, *[_now()] * 2, owner))
                location = f"/api/{owner}/tasks/{row[0]}".encode()
                return 201, to_json(_task(row)), [(b"location", location), _etag(row)]
            raise Refused(405)
        task_id = _task_id(parts[4])
        if len(parts) == 6:
            if parts[5] != "complete" or method != "PATCH":
                raise Refused(404)
            row = await self._write(TOGGLE, (_now(), owner, task_id))
        elif method == "GET":
            row = self._read_one(owner, task_id)
        elif method == "PATCH":
            title = _title(await _json(receive))
            row = await self._write(RENAME, (title, _now(), owner, task_id))
        else:
            raise Refused(405)
        return 200, to_json(_task(row)), [_etag(row)]

    def _list(self, owner: str) -> bytes:
        assert self.reader is not None
        rows = self.reader.execute(LIST, (owner, 21, 0)).fetchall()
        items = [_task(row) for row in rows[:20]]
        cursor = str(items[-1]["id"]) if len(rows) > 20 else None
        return to_json({"items": items, "next_cursor": cursor})

    def _read_one(self, owner: str, task_id: int) -> tuple[Any, ...]:
        assert self.reader is not None
        row = self.reader.execute(GET, (owner, task_id)).fetchone()
        if row is None:
            raise Refused(404)
        return tuple(row)

    async def _write(self, statement: str, params: tuple[Any, ...]) -> tuple[Any, ...]:
        connection = self.writer_connection
        assert connection is not None
        if statement is CREATE:
            params = (*params, MAX_TASKS)

        def work() -> tuple[Any, ...] | None:
            connection.execute("BEGIN")
            try:
                values = params
                if statement is CREATE:  # the owner's next number, as the product takes it
                    (number,) = connection.execute(NEXT_NUMBER, (params[0],)).fetchone()
                    values = (params[0], number, *params[1:])
                row = connection.execute(statement, values).fetchone()
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")  # before the response, as the product
            return None if row is None else tuple(row)

        row = await asyncio.get_running_loop().run_in_executor(self.writer, work)
        if row is None:
            raise Refused(404)
        return row


async def _json(receive: Receive) -> Any:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    try:
        return json.loads(body)
    except ValueError:
        raise Refused(400) from None


def _title(document: Any) -> str:
    title = document.get("title") if isinstance(document, dict) else None
    if not isinstance(title, str) or not title.strip() or len(title) > 200:
        raise Refused(422)
    return title.strip()


def _task_id(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_TASK_ID:
        raise Refused(422)
    return int(text)


def _etag(row: tuple[Any, ...]) -> tuple[bytes, bytes]:
    return b"etag", f'"{row[6]}"'.encode()


def build() -> Floor:
    url = os.environ["DATABASE_URL"]
    if not url.startswith("sqlite:///"):
        raise SystemExit("the floor runs on SQLite only (DATABASE_URL=sqlite:///...)")
    return Floor(url.removeprefix("sqlite:///"), os.environ["BETTER_AUTH_SECRET"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--loop", default="product")
    parser.add_argument("--http", default="httptools")
    args = parser.parse_args()
    if args.loop == "product":
        # The same event loop as the product's server: only the app differs.
        from todo_api.server import EVENT_LOOP

        args.loop = EVENT_LOOP
    uvicorn.run(
        "floor:build",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        loop=args.loop,
        # The product's guarded protocol is product code; plain httptools is what it subclasses.
        http="httptools" if args.http == "guarded" else args.http,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
