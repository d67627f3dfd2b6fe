"""Safe writes under Schemathesis (issue 13): a write replayed with a stale `If-Match` never
changes the task, and a create replayed with its `Idempotency-Key` never makes a second one.
Registered by importing this module; st_hooks does.

The check derives everything from the case and its answer: the ETag the write returned (so the
version before it is one less), the owner named in the path (schemathesis_ownership), and the GET
of the same resource (the case's path, or its parent for a sub-resource such as `/complete`).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import schemathesis
from schemathesis import Case, Response

from fixtures.spec_values import current_value, other_value, properties
from schemathesis_ownership import binding_of, declarations_of, owner_of
from spec_model import resolve

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
    binding = binding_of(case.operation.schema.raw_schema)
    if binding is None:
        return True
    authorization = binding.identity(owner).headers["Authorization"]
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


# A generated create reusing a key with another body is rightly refused (422), which Schemathesis
# would report as valid data rejected; every phase draws keys (examples, boundary values) that
# recur across cases. So each valid key is made unique before it is sent, except the check's own
# (prefix `st-`), whose replays are the point. Invalid keys (negative cases) are sent as drawn.
_VALID_KEY = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?")
_CHECK_KEY_PREFIX = "st-"


@schemathesis.hook
def before_call(ctx: Any, case: Case[Any], kwargs: dict[str, Any]) -> None:
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and _VALID_KEY.fullmatch(key) and not key.startswith(_CHECK_KEY_PREFIX):
        case.headers["Idempotency-Key"] = f"{key[:200]}~{uuid.uuid4().hex}"


def _collection(case: Case[Any], authorization: str) -> Case[Any] | None:
    """A GET of the collection the create added to, as its owner; None when the spec has none."""
    try:
        operation = case.operation.schema[case.path]["GET"]
    except LookupError:
        return None
    return operation.Case(
        path_parameters=dict(case.path_parameters or {}),
        headers={"Authorization": authorization},
    )


def _varied_bodies(case: Case[Any]) -> list[tuple[str, dict[str, Any]]]:
    """The case's JSON body with each property of its schema changed in turn (spec_values): a
    field the spec gains later is varied too."""
    if not isinstance(case.body, dict):
        return []
    spec = case.operation.schema.raw_schema
    operation = spec["paths"][case.path].get(case.method.lower(), {})
    content = resolve(spec, operation.get("requestBody", {})).get("content", {})
    if "application/json" not in content:
        return []
    fields = properties(spec, content["application/json"].get("schema", {}))
    return [
        (name, {**case.body, name: other_value(schema, current_value(schema, case.body, name))})
        for name, schema in sorted(fields.items())
    ]


@schemathesis.check
def replayed_create_makes_no_second_resource(
    ctx: Any, response: Response, case: Case[Any]
) -> bool | None:
    """A create that declares `Idempotency-Key`, sent with a key of its own and then again: the
    second answer is the first (same status and body, `Idempotent-Replayed: true`), the same key
    with any one field of the body changed is 422, and the owner's collection did not change;
    another user's identical key is another key."""
    if case.method != "POST" or response.status_code != 201:
        return True
    if case.operation.get_parameter("Idempotency-Key", "header") is None:
        return True
    owner = owner_of(case)
    if owner is None:
        return True
    binding = binding_of(case.operation.schema.raw_schema)
    if binding is None:
        return True
    authorization = binding.identity(owner).headers["Authorization"]
    collection = _collection(case, authorization)
    if collection is None:
        return True

    key = f"{_CHECK_KEY_PREFIX}{uuid.uuid4()}"
    send = case.derive()  # the accepted body, with the owner's token and a fresh key
    send.headers["Authorization"] = authorization
    send.headers["Idempotency-Key"] = key
    first = send.call()
    if first.status_code != 201:  # e.g. a quota reached by this very run
        return True
    before = collection.call()
    again = send.call()
    assert (again.status_code, again.json()) == (201, first.json()), (
        f"POST {case.formatted_path} sent again with its Idempotency-Key: "
        f"{again.status_code}, not the first answer"
    )
    assert _header(again, "idempotent-replayed") == "true", (
        f"POST {case.formatted_path} sent again with its Idempotency-Key: not marked replayed"
    )
    for name, varied in _varied_bodies(case):
        reused = send.derive()  # the same key, the accepted body with one field changed
        reused.headers["Authorization"] = authorization
        reused.headers["Idempotency-Key"] = key
        reused.body = varied
        answer = reused.call()
        assert answer.status_code == 422, (
            f"POST {case.formatted_path} sent again with its Idempotency-Key and {name} "
            f"changed to {varied[name]!r}: {answer.status_code}, not 422 (the key's request hash "
            "must cover every field)"
        )
    after = collection.call()
    assert after.json() == before.json(), (
        f"POST {case.formatted_path} sent again with its Idempotency-Key made a second resource"
    )

    other = binding.attacker_of(owner)
    owner_parameter = declarations_of(case.operation.schema.raw_schema).operation(
        case.method, case.path
    )
    assert owner_parameter is not None  # owner_of found it
    assert owner_parameter.owner is not None
    theirs = case.derive()
    theirs.path_parameters = {**(case.path_parameters or {}), owner_parameter.owner: other}
    theirs.headers["Authorization"] = binding.identity(other).headers["Authorization"]
    theirs.headers["Idempotency-Key"] = key
    answer = theirs.call()
    replayed = _header(answer, "idempotent-replayed")
    assert (answer.status_code, replayed) == (201, None), (
        f"POST {case.formatted_path} by another user with the same Idempotency-Key: "
        f"{answer.status_code}, replayed={replayed}; keys must be per user"
    )
    return None
