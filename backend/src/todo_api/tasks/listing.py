"""What a list request asks for: its sort, its filters, and the cursor that continues a sort.

A cursor holds the sort it was issued for and the last task's sort key and id, so the next page
starts strictly after that task whatever was added, changed or deleted since (keyset
pagination, research R14). The default sort, newest first, keeps the first contract's cursor:
the last id as a decimal string. The others are `<sort tag>.<key>.<id>`:

    ca.<id>                  created_at, oldest first (creation order is id order)
    ua|ud.<µs>.<id>          updated_at, microseconds since 0001-01-01 (UTC)
    da|dd.<µs or n>.<id>     due_at; `n` for a task without one (those come last either way)
    pa|pd.<0..2>.<id>        priority by rank: low 0, normal 1, high 2
    ta|td.<base64url>.<id>   title, its UTF-8 bytes

Clients treat cursors as opaque; one issued for another sort, or not issued at all, is a 422
naming `cursor`.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from todo_api.errors import ValidationFailed

SortField = Literal["created_at", "updated_at", "due_at", "priority", "title"]
SortName = Literal[
    "-created_at",
    "created_at",
    "-updated_at",
    "updated_at",
    "-due_at",
    "due_at",
    "-priority",
    "priority",
    "-title",
    "title",
]
SORTS: tuple[SortName, ...] = get_args(SortName)
DEFAULT_SORT: SortName = "-created_at"

PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2}
PRIORITIES = ("low", "normal", "high")

MAX_TASK_ID = 2**63 - 1
Q_MAX = 100

# The spec's cursor pattern, form by form (`CURSOR_PATTERN` joins them).
_ID = r"[1-9][0-9]{0,18}"
_FORMS = (
    _ID,
    rf"ca\.{_ID}",
    rf"u[ad]\.[0-9]{{1,18}}\.{_ID}",
    rf"d[ad]\.(n|[0-9]{{1,18}})\.{_ID}",
    rf"p[ad]\.[0-2]\.{_ID}",
    rf"t[ad]\.[A-Za-z0-9_-]{{1,1068}}\.{_ID}",
)
CURSOR_PATTERN = "^(" + "|".join(_FORMS) + ")$"
CURSOR_MAX = 1092

_TAGS: dict[SortField, str] = {
    "created_at": "c",
    "updated_at": "u",
    "due_at": "d",
    "priority": "p",
    "title": "t",
}
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)  # every datetime is after it: keys stay unsigned
# Beyond every stored time: a cursor key past it is read as it (the sort has nothing further).
_LATEST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)

Key = datetime | int | str | None


@dataclass(frozen=True, slots=True)
class Sort:
    field: SortField
    descending: bool

    @classmethod
    def named(cls, name: SortName) -> Sort:
        return cls(name.removeprefix("-"), name.startswith("-"))  # type: ignore[arg-type]

    @property
    def tag(self) -> str:
        return _TAGS[self.field] + ("d" if self.descending else "a")

    @property
    def is_default(self) -> bool:
        return self.field == "created_at" and self.descending


@dataclass(frozen=True, slots=True)
class After:
    """Where the next page starts: strictly after the task with this key and id."""

    key: Key
    id: int


def _micros(value: datetime) -> str:
    delta = value - _EPOCH
    return str((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


def _from_micros(text: str) -> datetime:
    micros = int(text)
    if micros > (_LATEST - _EPOCH) // timedelta(microseconds=1):
        return _LATEST
    return _EPOCH + timedelta(microseconds=micros)


def encode_cursor(sort: Sort, key: Key, task_id: int) -> str:
    """The cursor after a task with this sort key and id."""
    if sort.is_default:
        return str(task_id)
    if sort.field == "created_at":
        return f"ca.{task_id}"
    if sort.field == "priority":
        assert isinstance(key, str)
        text = str(PRIORITY_RANK[key])
    elif sort.field == "title":
        assert isinstance(key, str)
        text = base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")
    elif key is None:
        text = "n"
    else:
        assert isinstance(key, datetime)
        text = _micros(key)
    return f"{sort.tag}.{text}.{task_id}"


def _refused(why: str) -> ValidationFailed:
    return ValidationFailed(
        "The request was not valid",
        errors=[{"loc": ["query", "cursor"], "msg": why, "type": "cursor_invalid"}],
    )


def decode_cursor(sort: Sort, cursor: str) -> After | None:
    """Where to continue; None (from the start) for an id above every possible id. A cursor of
    another sort, or one no server issued, is a ValidationFailed naming `cursor`."""
    if re.fullmatch(_ID, cursor):
        if not sort.is_default:
            raise _refused(f"this cursor continues the sort -created_at, not {_name(sort)}")
        value = int(cursor)
        return After(None, value) if value <= MAX_TASK_ID else None
    tag, _, rest = cursor.partition(".")
    if tag != sort.tag or sort.is_default:
        raise _refused(f"this cursor does not continue the sort {_name(sort)}")
    text, _, last = rest.rpartition(".")
    task_id = int(last)
    if task_id > MAX_TASK_ID:
        raise _refused("no task has this id")
    key: Key
    if sort.field == "created_at":
        key = None
    elif sort.field == "priority":
        key = PRIORITIES[int(text)]
    elif sort.field == "title":
        try:
            key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise _refused("this cursor was not issued by this server") from None
        if not key or "\x00" in key:
            raise _refused("this cursor was not issued by this server")
    elif text == "n":
        key = None
    else:
        key = _from_micros(text)
    return After(key, task_id)


def _name(sort: Sort) -> str:
    return ("-" if sort.descending else "") + sort.field


def like_pattern(q: str) -> str:
    """A LIKE pattern that finds `q` anywhere, lower-cased, with `%`, `_` and the escape
    character itself standing for themselves (ESCAPE '\\')."""
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def like_text(pattern: str) -> str:
    """The text a `like_pattern` finds, its escapes undone: what its trigrams are taken from."""
    return re.sub(r"\\(.)", r"\1", pattern[1:-1])


def parse_time(name: str, value: str) -> datetime:
    """A query parameter's RFC 3339 date-time (already matched to the spec's pattern) in UTC;
    a date that does not exist (30 February) is a 422 naming the parameter."""
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValidationFailed(
            "The request was not valid",
            errors=[{"loc": ["query", name], "msg": "not a valid date-time", "type": "datetime"}],
        ) from None
