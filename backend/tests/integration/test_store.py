"""store.py against a real SQLite file: what the pre-built statements refuse to write."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from todo_api.db import make_engine, transaction
from todo_api.db.lifecycle import upgrade
from todo_api.tasks import store

in_transaction = transaction


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    migrated = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(migrated)
    yield migrated
    migrated.dispose()


@pytest.mark.parametrize(
    "changes",
    [{"owner_id": "bob"}, {"title": "x", "owner_id": "bob"}, {"id": 99}, {}],
    ids=["owner-only", "owner-with-title", "id", "nothing"],
)
def test_update_refuses_columns_outside_the_writable_ones(
    engine: Engine, changes: dict[str, object]
) -> None:
    """A caller that passed the owner (or nothing) must fail loudly, not have it dropped."""
    with in_transaction(engine, "alice") as connection:
        task = store.create_task(
            connection, owner_id="alice", title="mine", description=None, completed=False
        )
    with pytest.raises(ValueError, match="not writable"), in_transaction(engine, "alice") as c:
        store.update_task(c, owner_id="alice", task_id=task.id, changes=changes)
    with in_transaction(engine, "alice") as connection:
        rows = connection.execute(select(store.TASKS.c.owner_id, store.TASKS.c.title)).all()
    assert [tuple(row) for row in rows] == [("alice", "mine")]
