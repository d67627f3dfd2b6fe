"""`q` over thousands of one owner's tasks: the trigrams of each owner's texts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

A search read every task of its owner (SQLite: from 0005's index of the texts; PostgreSQL:
through 0006's trigram index, whose keys are every owner's, so a common trigram's postings span
the table). Here each trigram of a task's lower-cased title and description is kept with its
owner, and a search reads the postings of its own owner only (tasks/search.py, research L4).

- SQLite: `task_trigrams (owner_id, trigram, task_id)` WITHOUT ROWID, kept by triggers after
  INSERT, UPDATE of a text (one trigger per text: a rename writes the title's trigrams only) or
  of the owner, and DELETE of a task, and filled here from the tasks already there.
  `task_trigram_positions` holds 1..1000 (the contract's longest text): triggers cannot use
  WITH RECURSIVE, so they join a text with it to cut it into trigrams.
- PostgreSQL: `task_trigram_keys(owner, texts)`, IMMUTABLE, one bigint per (owner, trigram) of
  the texts; a GIN index over the keys of each task's lower-cased texts; and
  `task_trigram_matches(pattern, needle, cap)`, SECURITY DEFINER as 0006's function is (Row-Level
  Security keeps the index from answering the application role's own condition): the numbers of
  the bound user's tasks whose keys hold all of the needle's and whose texts match the pattern.
  0006's trigram index goes: its function (which the previous release calls, and this one for
  patterns under three characters) still answers, reading the owner's tasks in order.

Expand-only: the previous release reads and writes `tasks` as before; SQLite's triggers and
PostgreSQL's index keep its writes searchable by this release.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

# The statements below are composed of this module's own constants (hence `noqa: S608`): no
# value from outside reaches them.
POSITIONS = 1000  # schemas.DESCRIPTION_MAX, the longest text (test_lifecycle.py compares them)

# --- SQLite ------------------------------------------------------------------------------------


def _trigrams(row: str, column: str) -> str:
    """The trigrams of `row.column` (row: NEW or OLD), lower-cased: SQLite's lower() maps each
    ASCII letter alone, so the three characters are lower-cased, not the whole text at each
    position."""
    return (
        f"SELECT lower(substr({row}.{column}, p.n, 3)) FROM task_trigram_positions p "  # noqa: S608
        f"WHERE p.n <= length({row}.{column}) - 2"
    )


def _add(row: str, column: str) -> str:
    # OR IGNORE: a trigram the task holds already (twice in a text, or in its other text).
    return (
        f"INSERT OR IGNORE INTO task_trigrams (owner_id, trigram, task_id) "  # noqa: S608
        f"SELECT {row}.owner_id, lower(substr({row}.{column}, p.n, 3)), {row}.id "
        f"FROM task_trigram_positions p WHERE p.n <= length({row}.{column}) - 2"
    )


def _renamed(column: str, other: str) -> str:
    """After an UPDATE of one text, the owner unchanged: its old trigrams that neither new text
    holds go, its new ones are added. A PUT that changes both fires both (in either order, the
    postings end as the new texts' trigrams); one that leaves a text as it was fires neither."""
    return f"""
CREATE TRIGGER tasks_trigrams_{column} AFTER UPDATE OF {column} ON tasks FOR EACH ROW
WHEN OLD.{column} IS NOT NEW.{column} AND OLD.owner_id IS NEW.owner_id
BEGIN
    DELETE FROM task_trigrams WHERE owner_id = OLD.owner_id AND task_id = OLD.id
        AND trigram IN ({_trigrams("OLD", column)})
        AND trigram NOT IN ({_trigrams("NEW", column)} UNION ALL {_trigrams("NEW", other)});
    {_add("NEW", column)};
END
"""  # noqa: S608


def _removed(row: str) -> str:
    return (
        f"DELETE FROM task_trigrams WHERE owner_id = {row}.owner_id AND task_id = {row}.id "  # noqa: S608
        f"AND trigram IN ({_trigrams(row, 'title')} UNION ALL {_trigrams(row, 'description')})"
    )


SQLITE_TRIGGERS = (
    f"""
CREATE TRIGGER tasks_trigrams_insert AFTER INSERT ON tasks FOR EACH ROW
BEGIN
    {_add("NEW", "title")};
    {_add("NEW", "description")};
END
""",
    _renamed("title", "description"),
    _renamed("description", "title"),
    # This release never moves a task to another owner; a write that did moves its postings.
    f"""
CREATE TRIGGER tasks_trigrams_owner AFTER UPDATE OF owner_id ON tasks FOR EACH ROW
WHEN OLD.owner_id IS NOT NEW.owner_id
BEGIN
    {_removed("OLD")};
    {_add("NEW", "title")};
    {_add("NEW", "description")};
END
""",
    f"""
CREATE TRIGGER tasks_trigrams_delete AFTER DELETE ON tasks FOR EACH ROW
BEGIN
    {_removed("OLD")};
END
""",
)
SQLITE_TRIGGER_NAMES = (
    "tasks_trigrams_insert",
    "tasks_trigrams_title",
    "tasks_trigrams_description",
    "tasks_trigrams_owner",
    "tasks_trigrams_delete",
)

# In key order: a WITHOUT ROWID table fills fastest by appending.
SQLITE_BACKFILL = """
INSERT OR IGNORE INTO task_trigrams (owner_id, trigram, task_id)
SELECT owner_id, trigram, task_id FROM (
    SELECT t.owner_id, lower(substr(t.title, p.n, 3)) AS trigram, t.id AS task_id
    FROM tasks t JOIN task_trigram_positions p ON p.n <= length(t.title) - 2
    UNION ALL
    SELECT t.owner_id, lower(substr(t.description, p.n, 3)), t.id
    FROM tasks t JOIN task_trigram_positions p ON p.n <= length(t.description) - 2
) ORDER BY 1, 2, 3
"""

# --- PostgreSQL --------------------------------------------------------------------------------

INDEX = "ix_tasks_trigram_keys"
OLD_INDEX = "ix_tasks_owner_id_texts_trgm"  # 0006's
KEYS_FUNCTION = "task_trigram_keys(text, text[])"
MATCH_FUNCTION = "task_trigram_matches(text, text, integer)"

# The owner seeds the hash of each trigram: an owner's key for a trigram is theirs alone (a
# collision of two 64-bit keys only adds a candidate, which the owner and LIKE tests drop).
# Each text as given: the index lower-cases them, and the search's needle is lower-case already.
# PL/pgSQL, not SQL: a SQL function with a FROM is never inlined and plans its body at every
# call (each write of a text, each search), where PL/pgSQL keeps the plan for the session.
PG_KEYS_FUNCTION = r"""
CREATE FUNCTION task_trigram_keys(owner_id text, texts text[]) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN ARRAY(
        SELECT DISTINCT hashtextextended(substr(t, i, 3), hashtextextended(owner_id, 0))
        FROM unnest(texts) AS t, generate_series(1, length(t) - 2) AS i
    );
END
$$
"""
# Exactly as the queries spell it, or the planner would not match the index.
PG_TASK_KEYS = "task_trigram_keys(owner_id, ARRAY[lower(title), lower(description)])"
# One static statement, planned once per session (generic: the plan does not depend on the
# values), so a search pays no planning here: the only path for the fenced keys condition is the
# GIN index (OFFSET 0 keeps the owner's own condition out of it, else a generic plan would take
# the owner's btree index and compute every one of their tasks' keys). The owner and the LIKE are
# then tested on the few rows found. search_path pinned (pg_temp last), as for every SECURITY
# DEFINER function.
PG_MATCH_FUNCTION = rf"""
CREATE FUNCTION task_trigram_matches(pattern text, needle text, cap integer)
RETURNS SETOF bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY SELECT t.number FROM (
        SELECT number, owner_id, title, description FROM tasks
        WHERE {PG_TASK_KEYS}
            @> task_trigram_keys(current_setting('app.user_id', true), ARRAY[needle])
        OFFSET 0
    ) AS t
    WHERE t.owner_id = current_setting('app.user_id', true)
        AND (lower(t.title) LIKE pattern ESCAPE '\' OR lower(t.description) LIKE pattern ESCAPE '\')
    LIMIT cap;
END
$$
"""  # noqa: S608
# As 0006: whoever may read tasks may search them; nobody else.
PG_GRANT_TO_READERS = f"""
DO $$
DECLARE reader text;
BEGIN
    FOR reader IN
        SELECT DISTINCT grantee FROM information_schema.role_table_grants
        WHERE table_schema = current_schema() AND table_name = 'tasks'
          AND privilege_type = 'SELECT' AND grantee NOT IN ('PUBLIC', current_user)
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION {MATCH_FUNCTION} TO %I', reader);
    END LOOP;
END
$$
"""  # noqa: S608


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_KEYS_FUNCTION)
        op.execute(
            f"CREATE INDEX {INDEX} ON tasks USING gin (({PG_TASK_KEYS})) WITH (fastupdate = off)"
        )
        op.execute(PG_MATCH_FUNCTION)
        op.execute(f"REVOKE ALL ON FUNCTION {MATCH_FUNCTION} FROM PUBLIC")
        op.execute(PG_GRANT_TO_READERS)
        op.execute(f"DROP INDEX IF EXISTS {OLD_INDEX}")
        return
    op.create_table(
        "task_trigram_positions",
        sa.Column("n", sa.Integer(), primary_key=True, autoincrement=False),
    )
    op.execute(
        "WITH RECURSIVE p(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM p "  # noqa: S608
        f"WHERE n < {POSITIONS}) INSERT INTO task_trigram_positions (n) SELECT n FROM p"
    )
    op.create_table(
        "task_trigrams",
        sa.Column("owner_id", sa.String(128), primary_key=True),
        sa.Column("trigram", sa.String(3), primary_key=True),
        sa.Column("task_id", sa.Integer(), primary_key=True),
        sqlite_with_rowid=False,
    )
    op.execute(SQLITE_BACKFILL)
    for trigger in SQLITE_TRIGGERS:
        op.execute(trigger)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION {MATCH_FUNCTION}")
        op.execute(f"DROP INDEX {INDEX}")
        op.execute(f"DROP FUNCTION {KEYS_FUNCTION}")
        # 0006's index, where its extensions are (as 0006 built it).
        op.execute(
            "DO $$ BEGIN IF (SELECT count(*) FROM pg_extension "  # noqa: S608
            "WHERE extname IN ('pg_trgm', 'btree_gin')) = 2 THEN "
            f"CREATE INDEX {OLD_INDEX} ON tasks USING gin (owner_id, lower(title) gin_trgm_ops, "
            "lower(description) gin_trgm_ops) WITH (fastupdate = off); END IF; END $$"
        )
        return
    for trigger in SQLITE_TRIGGER_NAMES:
        op.execute(f"DROP TRIGGER {trigger}")
    op.drop_table("task_trigrams")
    op.drop_table("task_trigram_positions")
