"""Objects owned through the token: what a user created (`POST /orders`, `PUT /books/{title}`)
or listed (`GET /orders`) where no path names an owner is theirs, so another user's GET, PUT,
PATCH and DELETE of it by its id (`/orders/{id}`) must fail and change nothing, read back as
the owner. No declaration is needed: the item operations are found by their path, the id in
the created or listed object by the parameter's name (`{title}` -> `title`, `{order_id}` ->
`id`), else in the `Location` header."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from schemathesis import Case, Response

from .binding import Identity, Ownership, binding_of, declarations_of
from .checks import ACCEPTED, LEAKS_EXISTENCE, Findings
from .declarations import parameter_schema, resolve
from .probes import (
    as_identity,
    carries_credentials,
    changed,
    differing_members,
    json_or_bytes,
    path_value,
    same_answer,
    sent,
    without,
)
from .values import missing_value

# Objects probed per successful create or listing: one proves the operation, a few catch
# objects that differ (a first page of two users' rows).
PER_CASE = 2
WRITES = ("PUT", "PATCH")


def _item_paths(case: Case[Any]) -> Iterator[tuple[str, str]]:
    """(item path, id parameter) of the operations that act on one object of this collection."""
    for path in case.operation.schema.raw_schema.get("paths", {}):
        head, _, tail = path.rpartition("/")
        if head == case.path and tail.startswith("{") and tail.endswith("}"):
            yield path, tail[1:-1]


def _id_in(obj: Any, parameter: str) -> Any:
    if not isinstance(obj, dict):
        return None
    for name in (parameter, parameter.removesuffix("_id").removesuffix("Id"), "id"):
        if isinstance(obj.get(name), str | int) and not isinstance(obj.get(name), bool):
            return obj[name]
    return None


def _objects(body: Any) -> list[Any]:
    """The objects of a create's or a listing's body: itself, or the first array in it."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        arrays = [value for value in body.values() if isinstance(value, list)]
        return arrays[0] if arrays else [body]
    return []


def _targets(case: Case[Any], response: Response) -> Iterator[tuple[str, str, Any]]:
    """(item path, id parameter, id) of the objects the case created or listed."""
    tail = case.path.rpartition("/")[2]
    if case.method in ("PUT", "POST") and tail.startswith("{"):
        # A create at a client-chosen id (`PUT /books/{title}`): the object is the case's path.
        yield case.path, tail[1:-1], case.path_parameters.get(tail[1:-1])
        return
    if case.method not in ("POST", "GET"):
        return
    objects = _objects(json_or_bytes(response))[:PER_CASE]
    location = (response.headers.get("location") or [""])[0].rstrip("/").rpartition("/")[2]
    for path, parameter in _item_paths(case):
        ids = [_id_in(obj, parameter) for obj in objects]
        if case.method == "POST" and not any(i is not None for i in ids) and location:
            ids = [location]
        for value in ids:
            if value is not None:
                yield path, parameter, value


def _lists_id(body: Any, parameter: str, value: Any) -> bool:
    """Whether a listing's body holds an object with this id."""
    return any(_id_in(obj, parameter) == value for obj in _objects(body))


def _operation_raw(case: Case[Any], path: str, method: str) -> dict[str, Any] | None:
    item = case.operation.schema.raw_schema.get("paths", {}).get(path, {})
    raw = item.get(method.lower())
    return raw if isinstance(raw, dict) else None


def _changed_body(case: Case[Any], path: str, method: str, current: Any) -> Any:
    """A body for an attacker's write that differs from the object: its writable members, each
    string and boolean changed, so that a write that lands shows in the owner's read-back."""
    spec = case.operation.schema.raw_schema
    raw = _operation_raw(case, path, method) or {}
    content: dict[str, Any] = resolve(spec, raw.get("requestBody", {})).get("content", {})
    media: dict[str, Any] = next(iter(content.values()), {})
    schema = resolve(spec, media.get("schema", {}))
    allowed = set(resolve(spec, schema).get("properties", {}))
    source = case.body if isinstance(case.body, dict) else current
    if not isinstance(source, dict):
        return source
    return changed({k: v for k, v in source.items() if not allowed or k in allowed})


def _request(
    case: Case[Any],
    path: str,
    method: str,
    identity: Identity,
    values: dict[str, Any],
    body: Any = None,
) -> Case[Any]:
    operation = case.operation.schema[path][method]
    written = {"body": body, "media_type": "application/json"} if body is not None else {}
    request: Case[Any] = operation.Case(
        path_parameters={name: path_value(value) for name, value in values.items()},
        headers=dict(identity.headers),
        cookies=dict(identity.cookies),
        **written,
    )
    return request


def token_owned_isolation(ctx: Any, response: Response, case: Case[Any]) -> bool | None:
    """Another user can neither read nor change, by its id, an object the caller created or
    listed through an operation whose path names no owner."""
    raw = case.operation.schema.raw_schema
    ownership = binding_of(raw)
    op = declarations_of(raw).operation(case.method, case.path)
    if ownership is None or op is None or not op.secured or op.owner is not None or op.shared:
        return True
    if not 200 <= response.status_code < 300 or not carries_credentials(case, ownership):
        return True
    targets = list(_targets(case, response))
    if case.method == "GET" and targets:
        # What the attacker's own copy of the listing shows too is shared by design.
        theirs = as_identity(
            case, ownership, ownership.identity(ownership.attacker_of(ownership.caller))
        )
        shown = json_or_bytes(theirs.call())
        targets = [t for t in targets if not _lists_id(shown, t[1], t[2])]
    if not targets:
        return True
    findings = Findings()
    for path, parameter, value in targets:
        _probe_object(case, ownership, path, parameter, value, findings)
    findings.report()
    return None


def _probe_object(
    case: Case[Any], ownership: Ownership, path: str, parameter: str, value: Any, found: Findings
) -> None:
    owner = ownership.identity(ownership.caller)
    thief = ownership.identity(ownership.attacker_of(ownership.caller))
    sent_values = {
        k: unquote(v) if isinstance(v, str) else v for k, v in case.path_parameters.items()
    }
    values = {**sent_values, parameter: unquote(value) if isinstance(value, str) else value}
    methods = [m for m in ("GET", "PUT", "PATCH", "DELETE") if _operation_raw(case, path, m)]
    if "GET" not in methods:
        return  # without a read of it, nothing says what the owner has
    read = _request(case, path, "GET", owner, values)
    first, second = read.call(), read.call()
    if not 200 <= first.status_code < 300:
        return  # not an object this id reaches (a guessed id member, or already gone)
    volatile = ownership.volatile_members | differing_members(
        json_or_bytes(first), json_or_bytes(second)
    )
    where = f"{path} {parameter}={value!r}, {owner.name}'s"
    for method in methods:
        body = _changed_body(case, path, method, json_or_bytes(first)) if method in WRITES else None
        attempt = _request(case, path, method, thief, values, body)
        answer = attempt.call()
        what = f"another user's {method} of {where}: {answer.status_code} (sent {sent(thief)})"
        if method == "GET":
            theirs = without(json_or_bytes(answer), volatile)
            if 200 <= answer.status_code < 300 and theirs == without(
                json_or_bytes(first), volatile
            ):
                found.add(ACCEPTED, f"{what}, the owner's object")
            elif not 200 <= answer.status_code < 300:
                _like_missing(case, path, parameter, values, thief, answer, ownership, found, what)
            continue
        after = read.call()
        if not same_answer(first, after, volatile):
            verb = "removed" if after.status_code == 404 else "changed"
            found.add(ACCEPTED, f"{what}, and it {verb} the owner's object")
            return  # the object is not the owner's any more: later probes would mislead


def _like_missing(
    case: Case[Any],
    path: str,
    parameter: str,
    values: dict[str, Any],
    thief: Identity,
    answer: Response,
    ownership: Ownership,
    found: Findings,
    what: str,
) -> None:
    """Another user's object answers as a missing one would: the policy's status, same body."""
    schema = parameter_schema(case.operation.schema.raw_schema, "GET", path, parameter)
    missing = _request(
        case, path, "GET", thief, {**values, parameter: missing_value(schema, values[parameter])}
    ).call()
    if answer.status_code not in ownership.foreign_statuses:
        found.add(LEAKS_EXISTENCE, f"{what}, a missing one {missing.status_code}")
    elif answer.status_code == missing.status_code:
        again = _request(
            case,
            path,
            "GET",
            thief,
            {**values, parameter: missing_value(schema, values[parameter])},
        ).call()
        volatile = ownership.volatile_members | differing_members(
            json_or_bytes(missing), json_or_bytes(again)
        )
        if not same_answer(answer, missing, volatile):
            found.add(LEAKS_EXISTENCE, f"{what}, which differs from a missing one's")
