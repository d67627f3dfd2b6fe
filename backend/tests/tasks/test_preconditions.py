"""tasks/preconditions.py: entity tags and the If-Match / If-None-Match lists (RFC 9110 §13)."""

from __future__ import annotations

import pytest

from todo_api.tasks.preconditions import etag, parse

pytestmark = pytest.mark.unit


def test_the_etag_is_the_version_as_a_strong_tag() -> None:
    assert etag(3) == '"3"'
    assert parse(etag(3)).matches_strongly(3)


def test_star_matches_every_version() -> None:
    assert parse(" * ").matches_strongly(7)
    assert parse("*").matches_weakly(7)


def test_a_list_matches_any_of_its_versions() -> None:
    condition = parse('"1", "4" ,"9"')
    assert [v for v in range(1, 11) if condition.matches_strongly(v)] == [1, 4, 9]


def test_a_weak_tag_never_matches_strongly_but_does_weakly() -> None:
    condition = parse('W/"3"')
    assert not condition.matches_strongly(3)
    assert condition.matches_weakly(3)


@pytest.mark.parametrize(
    "value", ["", "3", '"3', '"3" junk', '"03"', '"abc"', '"3",,"4"', "**", '"-1"', "W/3"]
)
def test_what_does_not_parse_matches_nothing(value: str) -> None:
    condition = parse(value)
    assert not condition.any
    assert not any(condition.matches_weakly(v) for v in (1, 3, 4))
