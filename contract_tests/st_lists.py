"""The one dependency between list parameters that a schema cannot state: a `cursor` continues
the `sort` that issued it (spec: listTasks), and any other is a 422 naming `cursor`.

Schemathesis draws `cursor` and `sort` independently, so most schema-valid pairs it makes are
such a 422, which its positive-data check would report. Here a drawn cursor is kept only where
every value of its form has a meaning for the drawn sort (the form the default sort has always
had, research R14): the bare id with the default sort, the sort's own tag with a numeric key for
the others. Other pairs lose the cursor before the call; the 422 itself is tested in
tasks/test_lists.py.
"""

from __future__ import annotations

import re
from typing import Any

import schemathesis
from schemathesis import Case

SORTS = {"-created_at", "created_at", "-updated_at", "updated_at", "-due_at", "due_at"}
SORTS |= {"-priority", "priority", "-title", "title"}
_TAG = {"created_at": "c", "updated_at": "u", "due_at": "d", "priority": "p", "title": "t"}
_ID = re.compile(r"[1-9][0-9]{0,18}")


def _meaningful(sort: str, cursor: str) -> bool:
    if sort == "-created_at":
        return _ID.fullmatch(cursor) is not None
    field = sort.removeprefix("-")
    tag = _TAG[field] + ("d" if sort.startswith("-") else "a")
    # A title key is base64url of UTF-8: most drawn ones decode to no text at all.
    return field != "title" and cursor.startswith(f"{tag}.")


@schemathesis.hook("before_call")
def keep_cursors_with_their_sort(ctx: Any, case: Case[Any], kwargs: dict[str, Any]) -> None:
    # Before the call rather than at generation: the coverage phase builds its cases without
    # the generation hooks.
    if case.operation.label != "GET /api/{user_id}/tasks" or not case.query:
        return
    query = case.query
    cursor, sort = query.get("cursor"), query.get("sort", "-created_at")
    schema = case.operation.schema.raw_schema
    pattern = next(
        p["schema"]["pattern"]
        for p in schema["paths"]["/api/{user_id}/tasks"]["get"]["parameters"]
        if p.get("name") == "cursor"
    )
    if not (isinstance(cursor, str) and isinstance(sort, str) and sort in SORTS):
        return
    if not re.fullmatch(pattern, cursor):
        return  # not schema-valid already: sent as drawn (negative data stays negative)
    if not _meaningful(sort, cursor):
        del query["cursor"]
