"""Each task's due date and priority, and the indexes of the sorted lists.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

Expand-only: two columns the previous release does not name. `due_at` is nullable (no due date)
and `priority` has a server default, the rank of `normal` (low 0, normal 1, high 2, so that the
column sorts by rank): the previous release's INSERTs get a task without a due date at normal
priority, and its UPDATEs and SELECTs name neither column. Both are a plain ALTER TABLE ADD
COLUMN, rewriting no row (PostgreSQL 11+: a constant default; SQLite: an added column).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "tasks",
        sa.Column("priority", sa.SmallInteger(), nullable=False, server_default=sa.text("1")),
    )
    # One range scan per page of each sorted list (tasks/store.py). Built inside the migration's
    # transaction: on PostgreSQL writes to tasks wait while they are built (seconds per million
    # rows); the previous release only waits, it never fails on them.
    for column in ("due_at", "priority", "updated_at"):
        op.create_index(f"ix_tasks_owner_id_{column}_id", "tasks", ["owner_id", column, "id"])


def downgrade() -> None:
    for column in ("due_at", "priority", "updated_at"):
        op.drop_index(f"ix_tasks_owner_id_{column}_id", "tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("priority")
        batch.drop_column("due_at")
