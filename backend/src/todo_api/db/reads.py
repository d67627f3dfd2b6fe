"""Single-statement reads on PostgreSQL from the event loop: psycopg's AsyncConnection, kept in
a small pool of our own, each read one query string (the RLS bind and the statement) in
autocommit, as `driver.py` sends it from a database thread.

A database thread costs a hop each way and SQLAlchemy's pool checkout on every read; waiting for
PostgreSQL's answer on the loop costs neither (research P27 has the figures). Writes stay on the
threads, in their transactions (transactions.py): their COMMIT waits for the caller's decision.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import AsyncClientCursor, AsyncConnection
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine

from todo_api.db.driver import DriverStatement
from todo_api.dependencies import reason_of
from todo_api.errors import DatabaseUnavailable


class ReadLost(DatabaseUnavailable):
    """The connection broke under a read (a restart, a failover, a terminated backend)."""


class LoopReads:
    """Up to `size` connections, opened when a read finds none idle, kept for the life of the
    app; a read that finds them all busy waits up to `timeout` seconds (then 503, as the
    threads' pool does)."""

    def __init__(
        self,
        engine: Engine,
        bind: DriverStatement,
        *,
        size: int,
        timeout: float,
        connect_timeout: int,
    ) -> None:
        url = engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._dialect = engine.dialect
        self._bind = bind
        self._size = size
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._idle: deque[AsyncConnection[Any]] = deque()
        self._opened = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closing = False

    async def rows(
        self, user_id: str, statement: DriverStatement, params: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        """The statement's rows, in one implicit transaction bound to `user_id`: the answer
        comes after its commit. `ReadLost` when the connection broke (closed, not kept)."""
        connection = await self._get()
        keep = False
        try:
            cursor = AsyncClientCursor(connection)
            bind = self._bind.rendered(self._dialect)
            rendered = statement.rendered(self._dialect)
            query = (
                cursor.mogrify(bind.sql, bind.values({"user_id": user_id}))
                + ";\n"
                + cursor.mogrify(rendered.sql, rendered.values(params))
            )
            await cursor.execute(query, prepare=False)
            while cursor.nextset():
                pass  # to the statement's result, the last one
            rows: list[tuple[Any, ...]] = await cursor.fetchall()
            keep = True
            return rows
        except psycopg.Error as exc:
            if connection.closed:
                raise ReadLost(reason=reason_of(exc)) from None
            keep = connection.info.transaction_status == TransactionStatus.IDLE
            if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
                raise DatabaseUnavailable(reason=reason_of(exc)) from None
            raise
        finally:
            # Cancelled mid-read, or not back to idle: its state is unknown, so it goes (a read
            # has nothing to undo: its statement commits, or not, on the server alone).
            if keep and not self._closing and not connection.closed:
                self._put(connection)
            else:
                self._opened -= 1
                self._wake()  # a waiter may open one in its place
                await connection.close()

    async def _get(self) -> AsyncConnection[Any]:
        if self._idle:
            return self._idle.pop()
        if self._opened < self._size:
            self._opened += 1
            try:
                return await AsyncConnection.connect(
                    self._conninfo,
                    autocommit=True,
                    prepare_threshold=None,
                    connect_timeout=self._connect_timeout,
                    application_name="todo-api",
                )
            except BaseException as exc:
                self._opened -= 1
                if isinstance(exc, psycopg.Error):
                    raise DatabaseUnavailable(reason=reason_of(exc)) from None
                raise
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self._timeout):
                await waiter
        except TimeoutError:
            # Every connection is this process's: the database is not at fault (reason None).
            raise DatabaseUnavailable() from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        return await self._get()

    def _put(self, connection: AsyncConnection[Any]) -> None:
        self._idle.append(connection)
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def discard_idle(self) -> None:
        """Close the idle connections: one broke, so its siblings most likely did too."""
        idle, self._idle = self._idle, deque()
        self._opened -= len(idle)
        for connection in idle:
            await connection.close()
        self._wake()

    async def close(self) -> None:
        """At shutdown: the idle connections closed now, those in use when their read ends."""
        self._closing = True
        await self.discard_idle()
