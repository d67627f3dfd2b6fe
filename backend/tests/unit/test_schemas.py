"""tasks/schemas.py: strict, closed request models; the title rule; the cursor."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from todo_api.tasks.schemas import (
    CURSOR_PATTERN,
    TaskCreate,
    TaskPatch,
    TaskReplace,
    decode_cursor,
    encode_cursor,
)


def test_title_is_trimmed() -> None:
    assert TaskCreate.model_validate({"title": "\u3000 hi \n"}).title == "hi"


@pytest.mark.parametrize("title", ["", " ", "\t\n", "\u00a0\u2003\ufeff"])
def test_blank_title_is_refused(title: str) -> None:
    with pytest.raises(ValidationError):
        TaskCreate.model_validate({"title": title})


@pytest.mark.parametrize(
    "body",
    [
        {"title": 1},
        {"title": "t", "completed": "true"},
        {"title": "t", "completed": 0},
        {"title": "t", "extra": 1},
        {"title": "x" * 201},
        {"title": "t", "description": "d" * 1001},
    ],
    ids=repr,
)
def test_no_coercion_and_no_unknown_fields(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TaskCreate.model_validate(body)


def test_replace_requires_every_field() -> None:
    with pytest.raises(ValidationError):
        TaskReplace.model_validate({"title": "t", "completed": True})
    assert TaskReplace.model_validate({"title": "t", "description": None, "completed": True})


def test_patch_keeps_only_the_fields_sent() -> None:
    assert TaskPatch.model_validate({"description": None}).changes() == {"description": None}
    assert TaskPatch.model_validate({"title": " t "}).changes() == {"title": "t"}


@pytest.mark.parametrize("body", [{}, {"title": None}, {"completed": None}], ids=repr)
def test_patch_refuses_empty_or_null_required_fields(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TaskPatch.model_validate(body)


@pytest.mark.parametrize("task_id", [1, 42, 2**63 - 1])
def test_cursor_round_trips(task_id: int) -> None:
    cursor = encode_cursor(task_id)
    assert re.fullmatch(CURSOR_PATTERN, cursor)
    assert decode_cursor(cursor) == task_id


def test_cursor_above_every_id_starts_from_the_top() -> None:
    # Every cursor the pattern admits has a meaning: Schemathesis sends them as positive data.
    assert decode_cursor("9" * 19) is None
