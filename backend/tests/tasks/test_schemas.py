"""tasks/schemas.py: strict, closed request models; the title rule; the cursor."""

from __future__ import annotations

import hashlib
import typing

import pytest
from pydantic import ValidationError

from todo_api.tasks.schemas import (
    Task,
    TaskCreate,
    TaskFields,
    TaskList,
    TaskListFields,
    TaskPatch,
    TaskReplace,
)

pytestmark = pytest.mark.unit


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


@pytest.mark.parametrize(
    "due_at",
    [12345, "2026-01-01", "2026-01-01T00:00:00", "2026-02-30T00:00:00Z", "1899-12-31T00:00:00Z"],
    ids=repr,
)
def test_due_at_is_an_rfc3339_date_time_with_an_offset(due_at: object) -> None:
    with pytest.raises(ValidationError):
        TaskCreate.model_validate({"title": "t", "due_at": due_at})


def test_due_at_is_stored_in_utc_and_priority_defaults_to_normal() -> None:
    task = TaskCreate.model_validate({"title": "t", "due_at": "2026-12-24T18:00:00+02:00"})
    assert task.due_at is not None
    assert task.due_at.isoformat() == "2026-12-24T16:00:00+00:00"
    assert task.priority == "normal"


def test_replace_without_due_at_and_priority_leaves_them_out_of_the_changes() -> None:
    body = {"title": "t", "description": None, "completed": False}
    assert TaskReplace.model_validate(body).changes() == body
    cleared = TaskReplace.model_validate(body | {"due_at": None}).changes()
    assert cleared == body | {"due_at": None}


@pytest.mark.parametrize("priority", ["urgent", "", None, 1], ids=repr)
def test_priority_is_one_of_three(priority: object) -> None:
    with pytest.raises(ValidationError):
        TaskPatch.model_validate({"priority": priority})


def test_a_create_without_the_later_fields_hashes_as_the_release_before_them() -> None:
    # An Idempotency-Key stored before migration 0004 must still match its retry after it.
    from todo_api.tasks.service import _request_hash

    before = '{"title":"Pay","description":null,"completed":false}'
    body = TaskCreate.model_validate({"title": "Pay"})
    assert _request_hash(body) == hashlib.sha256(before.encode()).hexdigest()
    dated = TaskCreate.model_validate({"title": "Pay", "priority": "high"})
    assert _request_hash(dated) != _request_hash(body)


@pytest.mark.parametrize(("fields", "model"), [(TaskFields, Task), (TaskListFields, TaskList)])
def test_a_pages_plain_fields_are_the_models_fields_in_order(fields: type, model: type) -> None:
    # The page's JSON comes from these (service.list_tasks): same names, order and types as the
    # models the spec names, so the same validation and the same bytes.
    hints = typing.get_type_hints(fields)
    declared = {name: field.annotation for name, field in model.model_fields.items()}
    if model is TaskList:
        assert hints.pop("items") == list[TaskFields]
        assert declared.pop("items") == list[Task]
    assert list(hints.items()) == list(declared.items())
