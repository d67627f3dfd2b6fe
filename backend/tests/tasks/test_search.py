"""tasks/search.py: a pattern's trigrams, likely rare first, and SQLite's choice among them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import insert

from todo_api.db import make_engine, transaction
from todo_api.db.lifecycle import upgrade
from todo_api.tasks.search import PICK, PROBED, TRIGRAMS, trigrams


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ab", []),
        ("abc", ["abc"]),
        ("aaaa", ["aaa"]),  # distinct
        ("日本語の", ["日本語", "本語の"]),
        # Digits and rarer letters first, the commonest letters and spaces last.
        ("task 12", [" 12", "k 1", "ask", "sk ", "tas"]),
    ],
)
def test_a_patterns_trigrams_are_distinct_and_likely_rare_first(
    text: str, expected: list[str]
) -> None:
    assert trigrams(text) == expected


def test_the_first_probed_trigram_the_owner_holds_in_few_tasks_is_picked(tmp_path: Path) -> None:
    """Counted among the owner's own postings only: another owner holding a trigram often
    changes nothing. None held few times: nothing picked (the LIKE reads the owner's tasks)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'pick.db'}")
    upgrade(engine)
    postings = [{"owner_id": "alice", "trigram": "abc", "task_id": n} for n in range(5)]
    postings += [{"owner_id": "alice", "trigram": "xyz", "task_id": n} for n in range(2)]
    postings += [{"owner_id": "bob", "trigram": "xyz", "task_id": n} for n in range(100, 150)]

    def picked(owner: str, probed: list[str], cap: int) -> list[str]:
        params = {"p_owner_id": owner, "p_trigrams": json.dumps(probed), "p_cap": cap}
        return [row[0] for row in PICK.rows(connection, params)]

    try:
        with transaction(engine, "alice") as connection:
            connection.execute(insert(TRIGRAMS), postings)
            assert picked("alice", ["abc", "xyz"], 10) == ["abc"]  # the first that passes
            assert picked("alice", ["abc", "xyz"], 4) == ["xyz"]  # abc held 5 times
            assert picked("alice", ["abc", "xyz"], 1) == []
            assert picked("alice", ["nop", "abc"], 10) == ["nop"]  # held by none: no match
            assert picked("bob", ["xyz"], 10) == []
    finally:
        engine.dispose()
    assert PROBED >= 1
