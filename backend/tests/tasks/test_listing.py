"""tasks/listing.py: cursors per sort, the LIKE escaping, query times."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from todo_api.errors import ValidationFailed
from todo_api.tasks.listing import (
    CURSOR_PATTERN,
    SORTS,
    After,
    Sort,
    decode_cursor,
    encode_cursor,
    like_pattern,
    like_text,
    parse_time,
)

pytestmark = pytest.mark.unit

DEFAULT = Sort.named("-created_at")
KEYS = {
    "created_at": None,
    "updated_at": datetime(2026, 12, 6, 23, 0, 1, 123456, tzinfo=UTC),
    "due_at": datetime(1900, 1, 1, tzinfo=UTC),
    "priority": "high",
    "title": "Ünïcode 🚀 title with . and %",
}


@pytest.mark.parametrize("task_id", [1, 42, 2**63 - 1])
def test_default_cursor_is_the_id_as_before(task_id: int) -> None:
    cursor = encode_cursor(DEFAULT, None, task_id)
    assert cursor == str(task_id)
    assert decode_cursor(DEFAULT, cursor) == After(None, task_id)


def test_default_cursor_above_every_id_starts_from_the_top() -> None:
    # Every such cursor the pattern admits has a meaning: Schemathesis sends them as positive data.
    assert decode_cursor(DEFAULT, "9" * 19) is None


@pytest.mark.parametrize("name", SORTS)
@pytest.mark.parametrize("null_key", [False, True])
def test_every_sort_cursor_round_trips_and_matches_the_pattern(name: str, null_key: bool) -> None:
    sort = Sort.named(name)  # type: ignore[arg-type]
    key = None if null_key and sort.field == "due_at" else KEYS[sort.field]
    cursor = encode_cursor(sort, key, 77)
    assert re.fullmatch(CURSOR_PATTERN, cursor), cursor
    assert decode_cursor(sort, cursor) == After(key, 77)


@pytest.mark.parametrize("name", SORTS)
def test_a_cursor_of_another_sort_is_refused_naming_cursor(name: str) -> None:
    sort = Sort.named(name)  # type: ignore[arg-type]
    for other_name in SORTS:
        other = Sort.named(other_name)  # type: ignore[arg-type]
        if other == sort:
            continue
        cursor = encode_cursor(other, KEYS[other.field], 5)
        with pytest.raises(ValidationFailed) as refused:
            decode_cursor(sort, cursor)
        assert refused.value.errors is not None
        assert refused.value.errors[0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize("cursor", ["ta.__8.5", "ta.AA.5", "ua.1.99999999999999999999"])
def test_a_cursor_no_server_issued_is_refused(cursor: str) -> None:
    with pytest.raises(ValidationFailed):
        decode_cursor(Sort.named((cursor.startswith("t") and "title") or "updated_at"), cursor)


def test_a_time_key_past_every_date_reads_as_the_latest() -> None:
    after = decode_cursor(Sort.named("updated_at"), "ua." + "9" * 18 + ".3")
    assert after is not None
    assert isinstance(after.key, datetime)
    assert after.key.year == 9999


@pytest.mark.parametrize(
    ("q", "pattern"),
    [("Milk", "%milk%"), ("100%", "%100\\%%"), ("a_b", "%a\\_b%"), ("c:\\x", "%c:\\\\x%")],
)
def test_like_wildcards_in_the_text_stand_for_themselves(q: str, pattern: str) -> None:
    assert like_pattern(q) == pattern
    assert like_text(pattern) == q.lower()  # what its trigrams are taken from


def test_query_times_are_utc_and_impossible_dates_name_the_parameter() -> None:
    assert parse_time("due_before", "2026-12-24T18:00:00+02:00") == datetime(
        2026, 12, 24, 16, tzinfo=UTC
    )
    with pytest.raises(ValidationFailed) as refused:
        parse_time("due_after", "2026-02-30T00:00:00Z")
    assert refused.value.errors is not None
    assert refused.value.errors[0]["loc"] == ["query", "due_after"]
