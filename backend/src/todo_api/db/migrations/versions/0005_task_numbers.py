"""Task ids counted per owner (`number`), their counter table, and the title index.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

A task's id in the API becomes its `number` among its owner's tasks: 1 for a user's first task,
never reused, whatever other users create (research L2). The global `id` stays the primary key,
known to the database only.

Expand-only, so that the previous release keeps working during the rollout:
- `number` is nullable and filled from `id` for every existing task: the ids clients hold stay
  valid, and each owner's counter starts at the highest id they hold.
- `task_counters` holds each owner's last number; this release increments it in the create's
  transaction (tasks/store.py), which serialises one owner's creates on its row.
- An insert trigger numbers the rows the previous release inserts (it names no `number`), from the
  same counter, so they stay addressable by this release.
- The sorted lists' indexes end in `number`, as their tie-breaker now does; the previous
  release's `(owner_id, id)` index stays for its default list until a later contract phase.
- A title index (code-point order: `COLLATE "C"` on PostgreSQL) for `sort=title`, and on SQLite
  an index that holds the texts `q` searches.
A task the previous release created during the rollout has two names there (its `id` for that
release, its `number` for this one); ids of tasks from before the migration are the same in both.

On PostgreSQL the backfill runs with the table's FORCE ROW LEVEL SECURITY lifted inside this
transaction (the schema owner would otherwise see no row); the table stays locked until commit, so
nobody sees it unforced. `task_counters` gets the owner-only policy of `tasks`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

# The same condition as 0001's tasks policy: an unbound transaction matches no row.
OWNER_IS_BOUND_USER = "owner_id = current_setting('app.user_id', true)"
SORTED = ("due_at", "priority", "updated_at")

# The previous release's INSERTs name no `number`: take the next one from the owner's counter.
PG_NUMBER_FUNCTION = """
CREATE FUNCTION tasks_next_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO task_counters AS c (owner_id, last_number) VALUES (NEW.owner_id, 1)
    ON CONFLICT (owner_id) DO UPDATE SET last_number = c.last_number + 1
    RETURNING c.last_number INTO NEW.number;
    RETURN NEW;
END
$$
"""
PG_NUMBER_TRIGGER = (
    "CREATE TRIGGER tasks_number BEFORE INSERT ON tasks FOR EACH ROW "
    "WHEN (NEW.number IS NULL) EXECUTE FUNCTION tasks_next_number()"
)
# SQLite cannot change NEW in a trigger: number the inserted row right after.
SQLITE_NUMBER_TRIGGER = """
CREATE TRIGGER tasks_number AFTER INSERT ON tasks FOR EACH ROW WHEN NEW.number IS NULL
BEGIN
    INSERT INTO task_counters (owner_id, last_number) VALUES (NEW.owner_id, 1)
    ON CONFLICT (owner_id) DO UPDATE SET last_number = last_number + 1;
    UPDATE tasks SET number = (
        SELECT last_number FROM task_counters WHERE owner_id = NEW.owner_id
    ) WHERE id = NEW.id;
END
"""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.add_column("tasks", sa.Column("number", sa.BigInteger(), nullable=True))
    op.create_table(
        "task_counters",
        sa.Column("owner_id", sa.String(128), primary_key=True),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
    )
    if postgres:
        op.execute("ALTER TABLE tasks NO FORCE ROW LEVEL SECURITY")
    op.execute("UPDATE tasks SET number = id")
    op.execute(
        "INSERT INTO task_counters (owner_id, last_number) "
        "SELECT owner_id, max(id) FROM tasks GROUP BY owner_id"
    )
    if postgres:
        op.execute("ALTER TABLE tasks FORCE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE task_counters ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE task_counters FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY task_counters_owner_only ON task_counters "
            f"USING ({OWNER_IS_BOUND_USER}) WITH CHECK ({OWNER_IS_BOUND_USER})"
        )
        op.execute(PG_NUMBER_FUNCTION)
        op.execute(PG_NUMBER_TRIGGER)
    else:
        op.execute(SQLITE_NUMBER_TRIGGER)
    op.create_index("ux_tasks_owner_id_number", "tasks", ["owner_id", "number"], unique=True)
    for column in SORTED:
        op.drop_index(f"ix_tasks_owner_id_{column}_id", "tasks")
        op.create_index(
            f"ix_tasks_owner_id_{column}_number", "tasks", ["owner_id", column, "number"]
        )
    if not postgres:
        # `q` on SQLite: the owner's tasks in number order with the texts the search reads, so
        # that a non-matching task is rejected from the index alone and only matches are read
        # from the table (research L3). PostgreSQL's index scans read the row first: no gain.
        op.create_index(
            "ix_tasks_owner_id_number_texts",
            "tasks",
            ["owner_id", "number", "title", "description"],
        )
    title = sa.text('title COLLATE "C"') if postgres else sa.text("title")
    op.create_index(
        "ix_tasks_owner_id_title_number", "tasks", [sa.text("owner_id"), title, sa.text("number")]
    )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.drop_index("ix_tasks_owner_id_title_number", "tasks")
    if not postgres:
        op.drop_index("ix_tasks_owner_id_number_texts", "tasks")
    for column in SORTED:
        op.drop_index(f"ix_tasks_owner_id_{column}_number", "tasks")
        op.create_index(f"ix_tasks_owner_id_{column}_id", "tasks", ["owner_id", column, "id"])
    op.drop_index("ux_tasks_owner_id_number", "tasks")
    op.execute("DROP TRIGGER tasks_number" + (" ON tasks" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION tasks_next_number()")
    op.drop_table("task_counters")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("number")
