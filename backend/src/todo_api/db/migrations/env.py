"""Alembic environment: runs on the connection `todo_api.db.lifecycle` hands over (online only)."""

from __future__ import annotations

from alembic import context

from todo_api.db.orm import Base
from todo_api.tasks import idempotency, store  # noqa: F401  (register the models on Base.metadata)

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
