"""Task use cases: each one transaction bound to its owner, turning requests into owner-scoped
store calls and store rows into API models."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from todo_api.db import Database, utc_now
from todo_api.errors import (
    ApiError,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    QuotaExceeded,
)
from todo_api.tasks import idempotency, store
from todo_api.tasks.listing import (
    DEFAULT_SORT,
    Sort,
    SortName,
    decode_cursor,
    encode_cursor,
    like_pattern,
    parse_time,
)
from todo_api.tasks.preconditions import Condition
from todo_api.tasks.schemas import (
    TASK_LIST_JSON,
    Priority,
    Task,
    TaskCreate,
    TaskPatch,
    TaskReplace,
    TaskStatus,
)

_COMPLETED_FILTER: dict[str, bool | None] = {"all": None, "pending": False, "completed": True}

log = logging.getLogger("todo_api.tasks")


def _not_found() -> NotFound:
    # 404, not 403: a missing task and another user's task must be indistinguishable.
    return NotFound("Task not found")


def _fields(row: store.Record) -> dict[str, Any]:
    return dict(zip(store.FIELDS, row, strict=True))


def _task(row: store.Record | None) -> Task:
    if row is None:
        raise _not_found()
    return Task.model_validate(_fields(row))


@dataclass(frozen=True, slots=True)
class Created:
    """The answer to a create: a new task (201), or the stored answer of an earlier request that
    carried the same Idempotency-Key and body (`replayed`; no second task was made)."""

    task: Task
    status: int = 201
    replayed: bool = False


def _request_hash(body: TaskCreate) -> str:
    # The request as validated, not its bytes: the same task asked for with other whitespace or
    # an omitted default is the same request. Fields added later are left out at their defaults,
    # so a key stored by the release before them still matches the same body after the upgrade.
    later = {"due_at", "priority"} if body.due_at is None and body.priority == "normal" else set()
    return hashlib.sha256(body.model_dump_json(exclude=later).encode()).hexdigest()


def _in_flight() -> IdempotencyKeyInFlight:
    return IdempotencyKeyInFlight(
        "A create with this Idempotency-Key is still in progress: retry shortly",
        headers={"Retry-After": "1"},
    )


def _written(
    connection: Connection, owner_id: str, task_id: int, versions: list[int] | None, wrote: bool
) -> None:
    """Raise for a write that wrote nothing: 412 when the task is there (at another version),
    404 when this owner holds no such task, whatever the precondition said."""
    if wrote:
        return
    if versions is not None and store.task_exists(connection, owner_id=owner_id, task_id=task_id):
        raise PreconditionFailed("The task has changed since that ETag: read it again")
    raise _not_found()


class Tasks:
    """The task use cases over one database.

    Each method is one transaction, bound to the owner (Row-Level Security on PostgreSQL) and run
    whole on a database thread, validation of the rows included; it has committed when the method
    returns. Routes await these methods and know nothing of connections.
    """

    def __init__(
        self,
        database: Database,
        *,
        max_tasks_per_user: int | None = None,
        require_if_match: bool = False,
        idempotency_ttl_seconds: int = 86_400,
    ) -> None:
        self._database = database
        self._max_tasks = max_tasks_per_user
        self._require_if_match = require_if_match
        self._idempotency_ttl = timedelta(seconds=idempotency_ttl_seconds)
        # (owner, key) of the keyed creates this process is running: a second one is 409 at once,
        # without a database round trip. Only the event loop's thread touches it.
        self._in_flight: set[tuple[str, str]] = set()

    def _versions(self, if_match: Condition | None) -> list[int] | None:
        """The versions a write may find (None: any). No If-Match is refused under
        REQUIRE_IF_MATCH; `*` matches any existing task, which the plain write already needs."""
        if if_match is None:
            if self._require_if_match:
                raise PreconditionRequired("Send If-Match with the task's ETag")
            return None
        return None if if_match.any else sorted(if_match.strong)

    async def list_tasks(
        self,
        owner_id: str,
        status: TaskStatus,
        limit: int,
        cursor: str | None,
        *,
        sort: SortName = DEFAULT_SORT,
        due_before: str | None = None,
        due_after: str | None = None,
        priority: Priority | None = None,
        q: str | None = None,
    ) -> bytes:
        """A page, as the JSON of a TaskList: the rows' own values (store.list_page) validated
        as Tasks and dumped by one TypeAdapter, on the database thread (research P26)."""
        order = Sort.named(sort)
        query = store.ListQuery(
            order,
            after=decode_cursor(order, cursor) if cursor is not None else None,
            completed=_COMPLETED_FILTER[status],
            due_before=None if due_before is None else parse_time("due_before", due_before),
            due_after=None if due_after is None else parse_time("due_after", due_after),
            priority=priority,
            like=None if q is None else like_pattern(q),
        )

        def work(connection: Connection) -> bytes | None:
            page = store.list_page(connection, owner_id=owner_id, query=query, limit=limit)
            if page.frequent:
                return None
            next_cursor = None
            if page.last is not None:
                next_cursor = encode_cursor(order, getattr(page.last, order.field), page.last.id)
            fields = TASK_LIST_JSON.validate_python(
                {"items": page.tasks, "next_cursor": next_cursor}
            )
            return TASK_LIST_JSON.dump_json(fields)

        # One statement, so one exchange on PostgreSQL; a `due_at` sort may read the undated
        # tasks in a second range scan (store.list_tasks), so it keeps a transaction of its own.
        single = order.field != "due_at"
        body = await self._database.run(owner_id, work, single=single)
        if body is None:
            # PostgreSQL found the pattern frequent: the LIKE in the sort's order fills the page
            # (research L5), in a second transaction since the first may have been one exchange.
            query = replace(query, frequent=True)
            body = await self._database.run(owner_id, work, single=single)
            assert body is not None
        return body

    async def get_task(self, owner_id: str, task_id: int) -> Task:
        # If-None-Match is judged by the route on the task read here: reading is all it needs.
        def work(connection: Connection) -> Task:
            return _task(store.get_task(connection, owner_id=owner_id, task_id=task_id))

        return await self._database.run(owner_id, work, single=True)

    def _insert(self, connection: Connection, owner_id: str, body: TaskCreate) -> Task:
        row = store.create_task(
            connection,
            owner_id=owner_id,
            title=body.title,
            description=body.description,
            completed=body.completed,
            due_at=body.due_at,
            priority=body.priority,
            max_tasks=self._max_tasks,
        )
        if row is None:
            raise QuotaExceeded(
                f"You already hold the maximum of {self._max_tasks} tasks: delete some first"
            )
        return _task(row)

    async def create_task(
        self, owner_id: str, body: TaskCreate, idempotency_key: str | None = None
    ) -> Created:
        """A new task; with an Idempotency-Key, at most one per (owner, key) and body.

        The task and the stored answer are written in one transaction: a create that fails
        (quota, database) stores nothing, and the same key may be sent again.
        """
        if idempotency_key is None:
            task = await self._database.write(
                owner_id, lambda connection: self._insert(connection, owner_id, body)
            )
            return Created(task)

        key = idempotency_key
        request_hash = _request_hash(body)

        def work(connection: Connection) -> Created:
            now = utc_now()
            if not idempotency.claim(connection, owner_id=owner_id, key=key, now=now):
                raise _in_flight()  # another instance holds it
            earlier = idempotency.find(connection, owner_id=owner_id, key=key, now=now)
            if earlier is not None:
                if earlier.request_hash != request_hash:
                    raise IdempotencyKeyReused(
                        "This Idempotency-Key was used with another request body: "
                        "use a new key for a new task"
                    )
                task = Task.model_validate_json(earlier.body)
                return Created(task, earlier.status, replayed=True)
            task = self._insert(connection, owner_id, body)
            answer = idempotency.Answer(request_hash, 201, task.model_dump_json())
            idempotency.save(
                connection,
                owner_id=owner_id,
                key=key,
                answer=answer,
                now=now,
                expires_at=now + self._idempotency_ttl,
            )
            return Created(task)

        slot = (owner_id, key)
        if slot in self._in_flight:
            raise _in_flight()
        self._in_flight.add(slot)
        try:
            return await self._database.write(owner_id, work)
        finally:
            self._in_flight.discard(slot)

    async def purge_expired_keys(self) -> int:
        """Delete every owner's expired Idempotency-Key answers (in a transaction bound to no
        user, as the PostgreSQL purge policy needs); how many went."""
        return await self._database.write(
            None, lambda connection: idempotency.purge_expired(connection, now=utc_now())
        )

    async def purge_expired_keys_forever(self, interval: float) -> None:
        """The purge every `interval` seconds, for the life of the app: storage stays bounded by
        what the clients create within one IDEMPOTENCY_TTL_SECONDS. A failed purge (database
        away) is logged and tried again at the next turn."""
        while True:
            await asyncio.sleep(interval)
            try:
                purged = await self.purge_expired_keys()
            except ApiError as exc:  # the database is away: next turn
                log.warning("idempotency-key purge failed", extra={"error": exc.slug})
                continue
            except Exception:
                log.exception("idempotency-key purge crashed")
                continue
            if purged:
                log.info("idempotency-key purge", extra={"purged": purged})

    async def replace_task(
        self, owner_id: str, task_id: int, body: TaskReplace, if_match: Condition | None = None
    ) -> Task:
        return await self._update(owner_id, task_id, body.changes(), if_match)

    async def patch_task(
        self, owner_id: str, task_id: int, body: TaskPatch, if_match: Condition | None = None
    ) -> Task:
        return await self._update(owner_id, task_id, body.changes(), if_match)

    async def _update(
        self, owner_id: str, task_id: int, changes: dict[str, Any], if_match: Condition | None
    ) -> Task:
        versions = self._versions(if_match)

        def work(connection: Connection) -> Task:
            row = store.update_task(
                connection, owner_id=owner_id, task_id=task_id, changes=changes, versions=versions
            )
            _written(connection, owner_id, task_id, versions, row is not None)
            return _task(row)

        return await self._database.write(owner_id, work)

    async def toggle_task(
        self, owner_id: str, task_id: int, if_match: Condition | None = None
    ) -> Task:
        versions = self._versions(if_match)

        def work(connection: Connection) -> Task:
            row = store.toggle_task(
                connection, owner_id=owner_id, task_id=task_id, versions=versions
            )
            _written(connection, owner_id, task_id, versions, row is not None)
            return _task(row)

        return await self._database.write(owner_id, work)

    async def delete_task(
        self, owner_id: str, task_id: int, if_match: Condition | None = None
    ) -> None:
        versions = self._versions(if_match)

        def work(connection: Connection) -> None:
            deleted = store.delete_task(
                connection, owner_id=owner_id, task_id=task_id, versions=versions
            )
            _written(connection, owner_id, task_id, versions, deleted)

        await self._database.write(owner_id, work)
