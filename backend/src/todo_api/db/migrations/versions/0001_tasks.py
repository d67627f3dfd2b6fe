"""The tasks table, its owner index and, on PostgreSQL, its Row-Level Security policy.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# A row is visible and writable only inside a transaction bound to its owner
# (db.bind_user: set_config('app.user_id', sub, true)). Unbound, the setting is NULL or '' and
# matches no row: a forgotten bind shows nothing rather than everything.
OWNER_IS_BOUND_USER = "owner_id = current_setting('app.user_id', true)"


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=True),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("owner_id", sa.String(128), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.String(1000), nullable=True),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_tasks_owner_id_id", "tasks", ["owner_id", "id"])
    if op.get_bind().dialect.name == "postgresql":
        # FORCE: the policy binds the table's owner too, so even a deployment that (wrongly)
        # connects the app as the owner stays walled. Superusers and BYPASSRLS roles still pass,
        # which is why the app refuses to start as one (schema.check_app_role).
        op.execute("ALTER TABLE tasks ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE tasks FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tasks_owner_only ON tasks "
            f"USING ({OWNER_IS_BOUND_USER}) WITH CHECK ({OWNER_IS_BOUND_USER})"
        )


def downgrade() -> None:
    op.drop_table("tasks")
