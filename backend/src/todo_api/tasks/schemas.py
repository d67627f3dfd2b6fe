"""Request and response models, named as in the spec's `components.schemas`.

Request models are strict and closed: `"true"` is not a boolean, `"5"` is not an integer, and an
unknown field is an error rather than something silently dropped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import MISSING, BaseModel, ConfigDict, Field, field_validator, model_validator

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


Title = Annotated[str, Field(min_length=1, max_length=TITLE_MAX)]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX)]


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class TaskCreate(_Request):
    title: Title
    description: Description | None = None
    completed: bool = False

    _title = field_validator("title")(_trimmed_title)
    _description = field_validator("description")(_without_nul)


class TaskReplace(_Request):
    title: Title
    description: Description | None
    completed: bool

    _title = field_validator("title")(_trimmed_title)
    _description = field_validator("description")(_without_nul)


class TaskPatch(_Request):
    """Any non-empty subset of the fields; only those sent are written.

    MISSING (not None) marks "not sent": `description: null` is a value, and an absent field
    has no default to advertise.
    """

    title: Title | MISSING = MISSING
    description: Description | MISSING | None = MISSING
    completed: bool | MISSING = MISSING

    _title = field_validator("title")(_trimmed_title)
    _description = field_validator("description")(_without_nul)

    @model_validator(mode="after")
    def _not_empty(self) -> TaskPatch:
        if not self.model_fields_set:
            raise ValueError("send at least one of title, description, completed")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump()  # MISSING fields are left out


class Task(BaseModel):
    id: int
    title: str
    description: str | None
    completed: bool
    created_at: datetime
    updated_at: datetime
    version: int


class TaskList(BaseModel):
    items: list[Task]
    next_cursor: str | None


# The cursor is the id of the last task of the previous page, as a decimal string. Clients treat
# it as opaque; the server gives every value its pattern admits a meaning ("ids below N"), so a
# well-formed cursor is never refused and a page boundary never moves when tasks are added.
CURSOR_PATTERN = r"^[1-9][0-9]{0,18}$"


def encode_cursor(last_id: int) -> str:
    return str(last_id)


def decode_cursor(cursor: str) -> int | None:
    """The id to continue below; None (from the start) when it is above every possible id."""
    value = int(cursor)
    return value if value <= MAX_TASK_ID else None
