"""`q` on PostgreSQL without planning the page's search at each request.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

The search page of 0006/0007 was one statement (one exchange) that PostgreSQL planned at every
request: two scans of `tasks` (the matches read by number, and the LIKE in the sort's order for a
frequent pattern) and the CTE that gated them (research L5). Here
`task_search_found(pattern, needle, found_max)` reads the bound user's matching tasks in
PL/pgSQL, whose static statements are planned once per server connection and kept there: behind
a transaction pooler that is still right, since a plan cached in a server session depends on no
client's state (nothing is prepared by the client, nothing outlives a transaction that the next
client could see). The page statement around it only sorts and cuts the few rows it returns.

SECURITY INVOKER: the tasks are read as the application role, under Row-Level Security, and the
owner's trigram keys through 0007's `task_trigram_matches` (SECURITY DEFINER, which tests the
bound user itself). More than `found_max` matches: one row of NULLs instead of the tasks, so the
application knows the pattern is frequent and reads the owner's tasks in the sort's order with
the LIKE (the page then fills early).

Expand-only: a function added, nothing the previous release reads or writes changes. SQLite:
nothing (its search is 0007's postings).
"""

from __future__ import annotations

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

FUNCTION = "task_search_found(text, text, integer)"

# The owner condition is the policy's own (the bound user), on top of the policy; the numbers come
# from 0007's function, which holds only the bound user's. plan_cache_mode: the statement is
# planned once, never with its values (a generic plan is all a lookup by number needs).
# search_path pinned (pg_temp last), as for every function that names a table.
PG_FUNCTION = r"""
CREATE FUNCTION task_search_found(pattern text, needle text, found_max integer)
RETURNS SETOF tasks
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, public, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    numbers bigint[] := ARRAY(SELECT task_trigram_matches(pattern, needle, found_max + 1));
    frequent tasks;
BEGIN
    IF cardinality(numbers) > found_max THEN
        RETURN NEXT frequent;
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM tasks
        WHERE owner_id = current_setting('app.user_id', true) AND number = ANY(numbers);
END
$$
"""
# As 0006 and 0007: whoever may read tasks may search them; nobody else.
PG_GRANT_TO_READERS = f"""
DO $$
DECLARE reader text;
BEGIN
    FOR reader IN
        SELECT DISTINCT grantee FROM information_schema.role_table_grants
        WHERE table_schema = current_schema() AND table_name = 'tasks'
          AND privilege_type = 'SELECT' AND grantee NOT IN ('PUBLIC', current_user)
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION {FUNCTION} TO %I', reader);
    END LOOP;
END
$$
"""  # noqa: S608


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(PG_FUNCTION)
    op.execute(f"REVOKE ALL ON FUNCTION {FUNCTION} FROM PUBLIC")
    op.execute(PG_GRANT_TO_READERS)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP FUNCTION {FUNCTION}")
