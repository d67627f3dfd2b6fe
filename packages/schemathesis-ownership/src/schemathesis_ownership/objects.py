"""Objects owned through the token: what a user created (`POST /orders`, `PUT /books/{title}`)
or listed (`GET /orders`) where no path names an owner is theirs, so another user's GET, PUT,
PATCH and DELETE of it by its id (`/orders/{id}`) must fail and change nothing, read back as
the owner. No declaration is needed: the item operations are found by their path, the id in
the created or listed object by the parameter's name (`{title}` -> `title`, `{order_id}` ->
`id`), else in the `Location` header. Objects below it are probed too, at any depth, each
level's ids from the owner's listing of it; the owner reads back every object above one first."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from schemathesis import Case, Response

from .binding import Identity, Ownership, binding_of, declarations_of
from .checks import ACCEPTED, INVALID_BODY, LEAKS_EXISTENCE, Findings
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

# Objects probed per successful create or listing, and per listing below each of them: one
# proves the operation, a few catch objects that differ (a first page of two users' rows).
PER_CASE = 2
WRITES = ("PUT", "PATCH")


@dataclass(frozen=True)
class Target:
    """One object: its item path (`/projects/{project_id}/lists/{list_id}`), the parameter its
    id fills, and every path value that reaches it (its parents' ids too), decoded."""

    path: str
    parameter: str
    values: Mapping[str, Any]

    @property
    def id(self) -> Any:
        return self.values[self.parameter]


def _paths(case: Case[Any]) -> Mapping[str, Any]:
    paths: Mapping[str, Any] = case.operation.schema.raw_schema.get("paths", {})
    return paths


def _item_paths(case: Case[Any], collection: str) -> Iterator[tuple[str, str]]:
    """(item path, id parameter) of the operations that act on one object of a collection."""
    for path in _paths(case):
        head, _, tail = path.rpartition("/")
        if head == collection and tail.startswith("{") and tail.endswith("}"):
            yield path, tail[1:-1]


def _collections_below(case: Case[Any], item: str) -> list[str]:
    """The listings one fixed segment below an object (`/projects/{id}/lists`)."""
    return [
        path
        for path in _paths(case)
        if path.rpartition("/")[0] == item
        and not path.endswith("}")
        and _operation_raw(case, path, "GET")
    ]


def _ancestors(case: Case[Any], item: str) -> list[str]:
    """The objects above one, outermost first, that can be read (`/projects/{p}` above
    `/projects/{p}/lists/{l}`)."""
    parts = item.split("/")
    prefixes = ["/".join(parts[:end]) for end in range(2, len(parts))]
    return [p for p in prefixes if p.endswith("}") and _operation_raw(case, p, "GET")]


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


def _decoded(value: Any) -> Any:
    return unquote(value) if isinstance(value, str) else value


def _targets(case: Case[Any], response: Response) -> Iterator[Target]:
    """The objects the case created or listed."""
    tail = case.path.rpartition("/")[2]
    sent_values = {k: _decoded(v) for k, v in case.path_parameters.items()}
    if case.method in ("PUT", "POST") and tail.startswith("{"):
        # A create at a client-chosen id (`PUT /books/{title}`): the object is the case's path.
        if tail[1:-1] in sent_values:
            yield Target(case.path, tail[1:-1], sent_values)
        return
    if case.method not in ("POST", "GET"):
        return
    objects = _objects(json_or_bytes(response))[:PER_CASE]
    location = (response.headers.get("location") or [""])[0].rstrip("/").rpartition("/")[2]
    for path, parameter in _item_paths(case, case.path):
        ids = [_id_in(obj, parameter) for obj in objects]
        if case.method == "POST" and not any(i is not None for i in ids) and location:
            ids = [location]
        for value in ids:
            if value is not None:
                yield Target(path, parameter, {**sent_values, parameter: _decoded(value)})


def _below(case: Case[Any], owner: Identity, target: Target, depth: int = 0) -> Iterator[Target]:
    """The objects below one, at any depth, as the owner lists them: each level's ids are taken
    from its parent's listing, so a probe reaches the deepest object with the owner's ids."""
    if depth > len(target.path.split("/")):  # a path has as many levels as segments at most
        return
    for collection in _collections_below(case, target.path):
        answer = _request(case, collection, "GET", owner, target.values).call()
        if not 200 <= answer.status_code < 300:
            continue
        objects = _objects(json_or_bytes(answer))[:PER_CASE]
        for path, parameter in _item_paths(case, collection):
            for value in (_id_in(obj, parameter) for obj in objects):
                if value is not None:
                    child = Target(path, parameter, {**target.values, parameter: value})
                    yield child
                    yield from _below(case, owner, child, depth + 1)


def _lists_id(body: Any, parameter: str, value: Any) -> bool:
    """Whether a listing's body holds an object with this id."""
    return any(_id_in(obj, parameter) == value for obj in _objects(body))


def _operation_raw(case: Case[Any], path: str, method: str) -> dict[str, Any] | None:
    item = _paths(case).get(path, {})
    raw = item.get(method.lower())
    return raw if isinstance(raw, dict) else None


def _bodies(case: Case[Any], target: Target, method: str, current: Any) -> list[tuple[Any, str]]:
    """Bodies for an attacker's write, each with how to name it, in the order they are tried.

    First the owner's body with its strings and booleans changed, so that a write that lands
    shows in the owner's read-back; then, should that be refused as invalid (a pattern, an enum,
    a rule the spec does not state, checked before whose object it is), the owner's own body
    unchanged, which the API accepted from the owner: a write that lands then shows in what a
    write changes (a revision, `updated_at`). The owner's body is the case's when the case wrote
    this collection, else the object as the owner reads it."""
    spec = case.operation.schema.raw_schema
    raw = _operation_raw(case, target.path, method) or {}
    content: dict[str, Any] = resolve(spec, raw.get("requestBody", {})).get("content", {})
    media: dict[str, Any] = next(iter(content.values()), {})
    schema = resolve(spec, media.get("schema", {}))
    allowed = set(resolve(spec, schema).get("properties", {}))
    written = case.method in ("PUT", "POST", "PATCH") and case.path in (
        target.path,
        target.path.rpartition("/")[0],
    )
    source = case.body if written and isinstance(case.body, dict) else current
    if not isinstance(source, dict):
        return [(source, "a body")]
    own = {k: v for k, v in source.items() if not allowed or k in allowed}
    bodies = [(changed(own), "the owner's body changed")]
    if changed(own) != own:
        bodies.append((own, "the owner's own body, after a changed one was refused as invalid"))
    return bodies


def _request(
    case: Case[Any],
    path: str,
    method: str,
    identity: Identity,
    values: Mapping[str, Any],
    body: Any = None,
) -> Case[Any]:
    operation = case.operation.schema[path][method]
    written = {"body": body, "media_type": "application/json"} if body is not None else {}
    names = {segment[1:-1] for segment in path.split("/") if segment.startswith("{")}
    request: Case[Any] = operation.Case(
        path_parameters={n: path_value(v) for n, v in values.items() if n in names},
        headers=dict(identity.headers),
        cookies=dict(identity.cookies),
        **written,
    )
    return request


def token_owned_isolation(ctx: Any, response: Response, case: Case[Any]) -> bool | None:
    """Another user can neither read nor change, by its id, an object the caller created or
    listed through an operation whose path names no owner, nor any object below it."""
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
        targets = [t for t in targets if not _lists_id(shown, t.parameter, t.id)]
    if not targets:
        return True
    owner = ownership.identity(ownership.caller)
    targets += [child for target in list(targets) for child in _below(case, owner, target)]
    findings = Findings()
    # The deepest first: a parent removed by another user's DELETE takes its children along.
    for target in sorted(targets, key=lambda t: -t.path.count("{")):
        _probe_object(case, ownership, target, findings)
    findings.report()
    return None


def _read_back(case: Case[Any], owner: Identity, target: Target) -> list[Case[Any]]:
    """The owner's reads of an object, its parents first."""
    chain = [*_ancestors(case, target.path), target.path]
    return [_request(case, path, "GET", owner, target.values) for path in chain]


def _probe_object(case: Case[Any], ownership: Ownership, target: Target, found: Findings) -> None:
    owner = ownership.identity(ownership.caller)
    thief = ownership.identity(ownership.attacker_of(ownership.caller))
    path, parameter, values = target.path, target.parameter, target.values
    methods = [m for m in ("GET", "PUT", "PATCH", "DELETE") if _operation_raw(case, path, m)]
    if "GET" not in methods:
        return  # without a read of it, nothing says what the owner has
    reads = _read_back(case, owner, target)
    first, second = [r.call() for r in reads], [r.call() for r in reads]
    if not all(200 <= answer.status_code < 300 for answer in first):
        return  # not an object these ids reach (a guessed id member, or already gone)
    volatile = ownership.volatile_members
    for one, two in zip(first, second, strict=True):
        volatile |= differing_members(json_or_bytes(one), json_or_bytes(two))
    where = f"{path} {parameter}={target.id!r}, {ownership.caller}'s"
    current = json_or_bytes(first[-1])
    for method in methods:
        bodies = _bodies(case, target, method, current) if method in WRITES else [(None, "")]
        for body, named in bodies:  # noqa: B007  (the last one tried names the probe)
            answer = _request(case, path, method, thief, values, body).call()
            if answer.status_code not in INVALID_BODY:
                break  # a changed body refused as invalid says nothing: the next one may land
        with_body = f" with {named}" if body is not None else ""
        what = (
            f"another user's {method} of {where}{with_body}: {answer.status_code} "
            f"(sent {sent(thief)})"
        )
        if method == "GET":
            theirs = without(json_or_bytes(answer), volatile)
            if 200 <= answer.status_code < 300 and theirs == without(current, volatile):
                found.add(ACCEPTED, f"{what}, the owner's object")
            elif not 200 <= answer.status_code < 300:
                _like_missing(case, path, parameter, values, thief, answer, ownership, found, what)
            continue
        after = [r.call() for r in reads]
        moved = [
            r
            for r, was, now in zip(reads, first, after, strict=True)
            if not same_answer(was, now, volatile)
        ]
        if moved:
            verb = "removed" if after[-1].status_code == 404 else "changed"
            shown = ", ".join(f"GET {r.path}" for r in moved)
            found.add(ACCEPTED, f"{what}, and it {verb} the owner's object (read back: {shown})")
            return  # the object is not the owner's any more: later probes would mislead


def _like_missing(
    case: Case[Any],
    path: str,
    parameter: str,
    values: Mapping[str, Any],
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
