"""Stored answers of idempotent creates (`Idempotency-Key`, IETF httpapi draft): one row per
(owner, key), written in the create's own transaction, so the task and the answer that names it
commit together or not at all.

Keys are per owner: the primary key starts with the owner, every statement but the purge names
it, and on PostgreSQL the table is under the same Row-Level Security as `tasks`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Connection,
    Index,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from todo_api.db.driver import DriverStatement
from todo_api.db.orm import Base, UTCDateTime

KEY_MAX = 255


class IdempotencyKeyRow(Base):
    __tablename__ = "idempotency_keys"
    # The purge's range scan on SQLite (on PostgreSQL the policy's condition uses it).
    __table_args__ = (Index("ix_idempotency_keys_expires_at", "expires_at"),)

    owner_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_MAX), primary_key=True)
    # SHA-256 (hex) of the request as validated: the same key with another body is refused.
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # The first completed answer: its status and JSON body (Location and ETag derive from it).
    status: Mapped[int] = mapped_column(Integer, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


KEYS: Table = IdempotencyKeyRow.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Answer:
    """What the first request with a key was told."""

    request_hash: str
    status: int
    body: str


_OWNER_KEY = (KEYS.c.owner_id == bindparam("p_owner_id"), KEYS.c.key == bindparam("p_key"))
# On PostgreSQL: a transaction-scoped lock per (owner, key), taken without waiting. Two-key form
# with a class of its own, apart from the quota's owner locks and the migration lock. A hash
# collision between two keys only makes one of two simultaneous first requests wait (409).
_LOCK_CLASS = 0x1DE7
# On the driver (db.DriverStatement): on PostgreSQL the try-lock, the create's first statement,
# goes in the transaction's first exchange with BEGIN and the RLS bind (research P27).
_TRY_LOCK = DriverStatement(
    select(
        func.pg_try_advisory_xact_lock(
            _LOCK_CLASS,
            func.hashtext(
                bindparam("p_owner_id", type_=String) + "\n" + bindparam("p_key", type_=String)
            ),
        )
    )
)
_FORGET_EXPIRED = DriverStatement(
    delete(KEYS).where(*_OWNER_KEY, KEYS.c.expires_at <= bindparam("p_now"))
)
_FIND = DriverStatement(
    select(KEYS.c.request_hash, KEYS.c.status, KEYS.c.body).where(
        *_OWNER_KEY, KEYS.c.expires_at > bindparam("p_now")
    )
)
_SAVE = DriverStatement(
    insert(KEYS),
    column_keys=("owner_id", "key", "request_hash", "status", "body", "created_at", "expires_at"),
)
# SQLite has no RLS: the purge names what it deletes.
_PURGE_SQLITE = delete(KEYS).where(KEYS.c.expires_at <= bindparam("p_now"))
# PostgreSQL: no WHERE on purpose. In a transaction bound to no user, the only policy that lets a
# row go is `idempotency_keys_purge_expired` (FOR DELETE USING expires_at <= now()); a DELETE that
# read columns (WHERE, RETURNING) would need the owner-only SELECT policy and delete nothing. So
# the app role can purge every owner's expired answers without being able to read any of them.
_PURGE_POSTGRESQL = delete(KEYS)
_BOUND_USER = select(func.current_setting("app.user_id", True))


def claim(connection: Connection, *, owner_id: str, key: str, now: datetime) -> bool:
    """Make this transaction the only one working on (owner, key); False: another one is.

    PostgreSQL: the try-lock, held until commit, so instances sharing the database see each
    other's requests in flight. SQLite: this DELETE takes the database's write lock before
    anything is read, so a second writer (another process on the same file) waits for the first
    to commit and then finds its answer.
    """
    params = {"p_owner_id": owner_id, "p_key": key}
    if connection.dialect.name == "postgresql":
        [(locked,)] = _TRY_LOCK.rows(connection, params)
        if not locked:
            return False
    _FORGET_EXPIRED.run(connection, params | {"p_now": now})
    return True


def find(connection: Connection, *, owner_id: str, key: str, now: datetime) -> Answer | None:
    """The stored answer for this owner's key, unless it has expired."""
    rows = _FIND.rows(connection, {"p_owner_id": owner_id, "p_key": key, "p_now": now})
    return Answer(*rows[0]) if rows else None


def save(
    connection: Connection,
    *,
    owner_id: str,
    key: str,
    answer: Answer,
    now: datetime,
    expires_at: datetime,
) -> None:
    _SAVE.run(
        connection,
        {
            "owner_id": owner_id,
            "key": key,
            "request_hash": answer.request_hash,
            "status": answer.status,
            "body": answer.body,
            "created_at": now,
            "expires_at": expires_at,
        },
    )


def purge_expired(connection: Connection, *, now: datetime) -> int:
    """Delete every owner's expired answers; how many went. On PostgreSQL the transaction must be
    bound to no user (see _PURGE_POSTGRESQL), and the database's clock decides."""
    if connection.dialect.name == "postgresql":
        # Bound to a user, the owner-only policy would let that user's live answers go too.
        if connection.execute(_BOUND_USER).scalar():
            raise RuntimeError("the purge must run in a transaction bound to no user")
        return connection.execute(_PURGE_POSTGRESQL).rowcount
    return connection.execute(_PURGE_SQLITE, {"p_now": now}).rowcount
