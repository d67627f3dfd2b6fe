"""Alembic environment: runs on the connection that `todo_api.schema` hands over (online only)."""

from __future__ import annotations

from alembic import context

from todo_api.db import Base
from todo_api.tasks import store  # noqa: F401  (registers the models on Base.metadata)

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
