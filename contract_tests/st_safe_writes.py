"""Safe writes under Schemathesis (issue 13): a write replayed with a stale `If-Match` never
changes the task. Registered by importing this module; st_hooks does.

The check derives everything from the case and its answer: the ETag the write returned (so the
version before it is one less), the owner named in the path (ownership/), and the GET of the same
resource (the case's path, or its parent for a sub-resource such as `/complete`).
"""

from __future__ import annotations

import re
from typing import Any

import schemathesis
from schemathesis import Case, Response

from ownership.binding import binding_of
from ownership.credentials import owner_of

_ETAG = re.compile(r'"([1-9][0-9]*)"')


def _header(response: Response, name: str) -> str | None:
    values = response.headers.get(name.lower())
    return values[0] if values else None


def _reader(case: Case[Any], authorization: str) -> Case[Any] | None:
    """A GET of the resource the write changed, as its owner; None when the spec has none."""
    schema = case.operation.schema
    for path in (case.path, case.path.rsplit("/", 1)[0]):
        try:
            operation = schema[path]["GET"]
        except LookupError:  # no GET there (Schemathesis raises LookupError)
            continue
        return operation.Case(
            path_parameters=dict(case.path_parameters or {}),
            headers={"Authorization": authorization},
        )
    return None


@schemathesis.check
def stale_if_match_writes_nothing(ctx: Any, response: Response, case: Case[Any]) -> bool | None:
    """A successful write, replayed with the ETag of the version before it: 412, task unchanged."""
    if case.method not in ("PUT", "PATCH") or response.status_code != 200:
        return True
    current = _ETAG.fullmatch(_header(response, "etag") or "")
    owner = owner_of(case)
    if current is None or owner is None or int(current.group(1)) < 2:
        return True
    authorization = f"Bearer {binding_of(case.operation.schema.raw_schema).mint(owner)}"
    reader = _reader(case, authorization)
    if reader is None:
        return True
    before = reader.call()
    assert before.status_code == 200, f"the written task reads as {before.status_code}"

    stale = f'"{int(current.group(1)) - 1}"'
    replay = case.derive()  # the same write, with the owner's token and an old ETag
    replay.headers["Authorization"] = authorization
    replay.headers["If-Match"] = stale
    answer = replay.call()
    assert answer.status_code == 412, (
        f"{case.method} {case.formatted_path} with the stale If-Match {stale}: "
        f"{answer.status_code}, not 412"
    )
    after = reader.call()
    assert after.json() == before.json(), (
        f"{case.method} {case.formatted_path} with the stale If-Match {stale} changed the task"
    )
    return None
