"""Task persistence. Every function takes the owner: nothing reads or writes a task by id alone."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Identity,
    Index,
    Integer,
    RowMapping,
    String,
    delete,
    insert,
    not_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from todo_api.db import Base, UTCDateTime, utc_now


class TaskRow(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        # Serves "this owner's tasks, newest first" and the keyset cursor (id < :before) in one
        # range scan.
        Index("ix_tasks_owner_id_id", "owner_id", "id"),
        # SQLite's AUTOINCREMENT keeps ids strictly increasing even after deletes, so id order is
        # creation order and a cursor never meets a reused id.
        {"sqlite_autoincrement": True},
    )

    # 64-bit ids as the contract says; SQLite's INTEGER PRIMARY KEY is already 64-bit and must be
    # spelled INTEGER to be the rowid (and so to AUTOINCREMENT). On PostgreSQL a BIGINT identity,
    # ALWAYS so that no client-chosen id can collide with one the sequence hands out later.
    # The schema itself comes from the Alembic migrations (todo_api/migrations), which a test
    # keeps equal to this model.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        Identity(always=True),
        primary_key=True,
        autoincrement=True,
    )
    owner_id: Mapped[str] = mapped_column(String(128), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    completed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


_COLUMNS = (
    TaskRow.id,
    TaskRow.title,
    TaskRow.description,
    TaskRow.completed,
    TaskRow.created_at,
    TaskRow.updated_at,
)


def _scoped(owner_id: str, task_id: int) -> tuple[Any, Any]:
    return TaskRow.owner_id == owner_id, TaskRow.id == task_id


def list_tasks(
    session: Session,
    *,
    owner_id: str,
    completed: bool | None,
    limit: int,
    before_id: int | None,
) -> list[RowMapping]:
    query = select(*_COLUMNS).where(TaskRow.owner_id == owner_id)
    if completed is not None:
        query = query.where(TaskRow.completed.is_(completed))
    if before_id is not None:
        query = query.where(TaskRow.id < before_id)
    query = query.order_by(TaskRow.id.desc()).limit(limit)
    return [row._mapping for row in session.execute(query)]


def get_task(session: Session, *, owner_id: str, task_id: int) -> RowMapping | None:
    row = session.execute(select(*_COLUMNS).where(*_scoped(owner_id, task_id))).first()
    return row._mapping if row else None


def create_task(
    session: Session, *, owner_id: str, title: str, description: str | None, completed: bool
) -> RowMapping:
    now = utc_now()
    statement = (
        insert(TaskRow)
        .values(
            owner_id=owner_id,
            title=title,
            description=description,
            completed=completed,
            created_at=now,
            updated_at=now,
        )
        .returning(*_COLUMNS)
    )
    return session.execute(statement).one()._mapping


def update_task(
    session: Session, *, owner_id: str, task_id: int, changes: Mapping[str, Any]
) -> RowMapping | None:
    """Write only the given columns in one statement: concurrent edits of other fields survive."""
    statement = (
        update(TaskRow)
        .where(*_scoped(owner_id, task_id))
        .values(**changes, updated_at=utc_now())
        .returning(*_COLUMNS)
    )
    row = session.execute(statement).first()
    return row._mapping if row else None


def toggle_task(session: Session, *, owner_id: str, task_id: int) -> RowMapping | None:
    """Flip in SQL, not read-then-write: two concurrent toggles give two flips."""
    statement = (
        update(TaskRow)
        .where(*_scoped(owner_id, task_id))
        .values(completed=not_(TaskRow.completed), updated_at=utc_now())
        .returning(*_COLUMNS)
    )
    row = session.execute(statement).first()
    return row._mapping if row else None


def delete_task(session: Session, *, owner_id: str, task_id: int) -> bool:
    result = session.execute(
        delete(TaskRow).where(*_scoped(owner_id, task_id)).returning(TaskRow.id)
    )
    return result.first() is not None
