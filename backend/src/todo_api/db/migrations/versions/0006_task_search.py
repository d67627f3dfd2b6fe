"""`q` on PostgreSQL: a search function that may use a trigram index, and that index.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

Under Row-Level Security the planner evaluates the policy before any condition that is not
LEAKPROOF, and LIKE and lower() are not: for the application role no index can answer
`lower(title) LIKE …`, whatever index exists, and a search reads every task of its owner (research
L3). So the search's matching runs in a function owned by the schema owner, SECURITY DEFINER,
under a SELECT policy that lets the owner read (it could lift the table's policies anyway): there
the trigram index is an index like any other. The function returns the numbers of the bound
user's matching tasks only (`owner_id = current_setting('app.user_id', true)`, the policy's own
condition; unbound, nothing), and the application then reads those tasks as itself, under the
policy (tasks/store.py).

The index needs the extensions pg_trgm and btree_gin, which an administrator creates (`todo-api
roles` prints the statements). Without them this migration builds no index and says so; the
function still answers, reading the owner's tasks as before.

Expand-only: the previous release never calls the function; the index and the policy change none
of its statements' results. SQLite: nothing (its index of the texts is 0005's).
"""

from __future__ import annotations

import logging

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

log = logging.getLogger("todo_api.db")

EXTENSIONS = ("pg_trgm", "btree_gin")
INDEX = "ix_tasks_owner_id_texts_trgm"
FUNCTION = "task_numbers_matching(text, integer)"

# The statement runs through EXECUTE … USING so that it is planned with the owner and the pattern
# known: a frequent pattern stops after `cap` rows of the owner's index, a rare one goes to the
# trigram index. search_path is pinned (pg_temp last), as for every SECURITY DEFINER function.
PG_SEARCH_FUNCTION = r"""
CREATE FUNCTION task_numbers_matching(pattern text, cap integer) RETURNS SETOF bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    RETURN QUERY EXECUTE 'SELECT number FROM tasks WHERE owner_id = $1 AND '
        '(lower(title) LIKE $2 ESCAPE ''\'' OR lower(description) LIKE $2 ESCAPE ''\'') LIMIT $3'
    USING current_setting('app.user_id', true), pattern, cap;
END
$$
"""
# Whoever may read tasks may search them (the application role, by the default privileges of
# `todo-api roles`); nobody else.
PG_GRANT_TO_READERS = """
DO $$
DECLARE reader text;
BEGIN
    FOR reader IN
        SELECT DISTINCT grantee FROM information_schema.role_table_grants
        WHERE table_schema = current_schema() AND table_name = 'tasks'
          AND privilege_type = 'SELECT' AND grantee NOT IN ('PUBLIC', current_user)
    LOOP
        EXECUTE format(
            'GRANT EXECUTE ON FUNCTION task_numbers_matching(text, integer) TO %I', reader
        );
    END LOOP;
END
$$
"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute(
        "CREATE POLICY tasks_owner_searches ON tasks FOR SELECT TO CURRENT_USER USING (true)"
    )
    op.execute(PG_SEARCH_FUNCTION)
    op.execute(f"REVOKE ALL ON FUNCTION {FUNCTION} FROM PUBLIC")
    op.execute(PG_GRANT_TO_READERS)
    present = bind.exec_driver_sql(
        "SELECT count(*) FROM pg_extension WHERE extname IN ('pg_trgm', 'btree_gin')"
    ).scalar_one()
    if present < len(EXTENSIONS):
        log.warning(
            "migration 0006: no trigram index for q (the extensions pg_trgm and btree_gin are "
            "missing: `todo-api roles` prints the statements that create them; then run "
            "docs/deploying.md's CREATE INDEX); searches read each of the owner's tasks"
        )
        return
    op.execute(
        f"CREATE INDEX {INDEX} ON tasks USING gin "
        "(owner_id, lower(title) gin_trgm_ops, lower(description) gin_trgm_ops) "
        "WITH (fastupdate = off)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    op.execute(f"DROP FUNCTION {FUNCTION}")
    op.execute("DROP POLICY tasks_owner_searches ON tasks")
