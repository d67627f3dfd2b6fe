"""Each task's version, the ETag that conditional writes (If-Match) compare.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

Expand-only: one column with a server default, so the previous release keeps working while both
run (its INSERTs name no `version` and get 1; its UPDATEs leave the version as it is, see
research.md W2). Adding a NOT NULL column with a constant default rewrites no row on PostgreSQL
(11+) and is a plain ALTER TABLE ADD COLUMN on SQLite: existing tasks read as version 1.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column(
        "tasks",
        sa.Column("version", sa.BigInteger(), nullable=False, server_default=sa.text("1")),
    )


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("version")
