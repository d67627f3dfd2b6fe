"""Stored answers of idempotent creates (Idempotency-Key), under Row-Level Security.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Expand-only: a new table that the previous release never touches, so both run side by side
during a rollout (research.md W6).

On PostgreSQL, two permissive policies: the owner-only one of `tasks` (read and write your own
keys), and one that lets any transaction DELETE an expired row. PostgreSQL applies the SELECT
policies too as soon as a DELETE reads a column (WHERE, RETURNING), so the app's purge, a
DELETE without WHERE in a transaction bound to no user, removes every owner's expired rows and
can read none of them (tasks/idempotency.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

# The same condition as 0001's tasks policy: an unbound transaction matches no row.
OWNER_IS_BOUND_USER = "owner_id = current_setting('app.user_id', true)"


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("owner_id", sa.String(128), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY idempotency_keys_owner_only ON idempotency_keys "
            f"USING ({OWNER_IS_BOUND_USER}) WITH CHECK ({OWNER_IS_BOUND_USER})"
        )
        op.execute(
            "CREATE POLICY idempotency_keys_purge_expired ON idempotency_keys "
            "FOR DELETE USING (expires_at <= now())"
        )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
