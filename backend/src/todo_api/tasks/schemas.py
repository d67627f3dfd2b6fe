"""Request and response models, named as in the spec's `components.schemas`.

Request models are strict and closed: `"true"` is not a boolean, `"5"` is not an integer, and an
unknown field is an error rather than something silently dropped.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    MISSING,
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)
from typing_extensions import TypedDict

TITLE_MAX = 200
DESCRIPTION_MAX = 1000
MAX_TASK_ID = 2**63 - 1  # the database's integer range; larger ids could never exist

# ECMAScript's \s (WhiteSpace + LineTerminator): the spec's pattern "\S" is judged with it, so the
# server trims and tests for blankness with exactly the same set.
_ECMA_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)

TaskStatus = Literal["all", "pending", "completed"]
Priority = Literal["low", "normal", "high"]

# RFC 3339 with an offset, as the spec's DueAt pattern: years 1900..9899, so that every value
# the pattern admits converts to UTC and back without leaving the datetime range.
DUE_AT_PATTERN = (
    r"^(19|[2-8][0-9]|9[0-8])[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)


def _without_nul(value: str | None) -> str | None:
    # PostgreSQL text cannot hold U+0000 (it was a 500 there); the spec's patterns exclude it, so
    # it is a 422 on every database.
    if value is not None and "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000)")
    return value


def _trimmed_title(value: str) -> str:
    trimmed = value.strip(_ECMA_WHITESPACE)
    if not trimmed:
        raise ValueError("title must not be blank")
    _without_nul(trimmed)
    return trimmed


_DUE_AT = re.compile(DUE_AT_PATTERN)


def _rfc3339_text(value: object) -> object:
    # A JSON string in the spec's form only: pydantic's lax datetime would also take a number
    # (seconds since 1970) or a date without a time.
    if value is not None and not (isinstance(value, str) and _DUE_AT.match(value)):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-12-24T18:00:00Z")
    return value


def _utc(value: datetime) -> datetime:
    # Stored and answered in UTC, like created_at.
    return value.astimezone(UTC)


Title = Annotated[str, Field(min_length=1, max_length=TITLE_MAX)]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX)]
DueAt = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_text),
    AfterValidator(_utc),
    # The spec's bound (the pattern admits at most 32 characters), stated for parity with it.
    Field(strict=False, json_schema_extra={"maxLength": 40}),
]


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class TaskCreate(_Request):
    title: Title
    description: Description | None = None
    completed: bool = False
    due_at: DueAt | None = None
    priority: Priority = "normal"

    _title = field_validator("title")(_trimmed_title)
    _description = field_validator("description")(_without_nul)


class TaskReplace(_Request):
    """Every field of the first contract is required; `due_at` and `priority` came later and may
    be left out: then they keep their stored values, so a client of the earlier contract, which
    knows nothing of them, does not erase them (docs/lists.md)."""

    title: Title
    description: Description | None
    completed: bool
    due_at: DueAt | MISSING | None = MISSING
    priority: Priority | MISSING = MISSING

    _title = field_validator("title")(_trimmed_title)
    _description = field_validator("description")(_without_nul)

    def changes(self) -> dict[str, Any]:
        return self.model_dump()  # MISSING fields are left out


class TaskPatch(_Request):
    """Any non-empty subset of the fields; only those sent are written.

    MISSING (not None) marks "not sent": `description: null` is a value, and an absent field
    has no default to advertise.
    """

    title: Title | MISSING = MISSING
    description: Description | MISSING | None = MISSING
    completed: bool | MISSING = MISSING
    due_at: DueAt | MISSING | None = MISSING
    priority: Priority | MISSING = MISSING

    _title = field_validator("title")(_trimmed_title)
    _description = field_validator("description")(_without_nul)

    @model_validator(mode="after")
    def _not_empty(self) -> TaskPatch:
        if not self.model_fields_set:
            raise ValueError("send at least one of title, description, completed, due_at, priority")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump()  # MISSING fields are left out


class Task(BaseModel):
    id: int
    title: str
    description: str | None
    completed: bool
    due_at: datetime | None
    priority: Priority
    created_at: datetime
    updated_at: datetime
    version: int


class TaskList(BaseModel):
    items: list[Task]
    next_cursor: str | None


# A page of a list as plain dicts of the same fields and types: validated and dumped by one
# TypeAdapter, the JSON of a TaskList byte for byte, without building 20 models (research P26).
# unit/test_schemas.py holds the fields, their order and their types to Task's and TaskList's.
class TaskFields(TypedDict):
    id: int
    title: str
    description: str | None
    completed: bool
    due_at: datetime | None
    priority: Priority
    created_at: datetime
    updated_at: datetime
    version: int


class TaskListFields(TypedDict):
    items: list[TaskFields]
    next_cursor: str | None


TASK_LIST_JSON: TypeAdapter[TaskListFields] = TypeAdapter(TaskListFields)
