"""Who owns what, as the spec declares it: `x-owner`, `x-resource-id` and `x-lists`, read as data.

- `x-owner: true` on a path parameter: it names the owner (the token's subject must equal it).
  `x-owner: <name>` on an operation names that parameter instead; `x-owner: none` says the
  request names no owner: what it reads or writes is the token's (`/api/me`, `/orders/{id}`);
  `x-owner: shared` says its objects are everyone's by design (a catalogue): not probed across
  users. Undeclared operations are treated as `none`: the declarations are hints.
  An owner named in the query is `x-owner: true` on that query parameter; one named in the body
  is `x-owner: {in: body, pointer: /username}` on the operation.
- `x-resource-id: <Resource>` on a path parameter: it is the id of a `<Resource>` object.
- `x-lists: <Resource>` on a GET operation: it lists the owner's `<Resource>` objects, as a JSON
  array body; or `x-lists: {resource, items, id, next-cursor, cursor-parameter}` where `items`
  and `next-cursor` are JSON pointers into the 200 body, `id` one into each item (default `/id`),
  and `cursor-parameter` the query parameter that takes `next-cursor` for the next page; or
  `offset-parameter`, the query parameter that skips the items already read (offset/limit);
  `views`, a list of query parameter sets, each read back page by page (sorted, filtered or
  searched pages; default one view, no parameters).

Plain dictionaries in, frozen dataclasses out: no Schemathesis, no HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

OWNER = "x-owner"
RESOURCE_ID = "x-resource-id"
LISTS = "x-lists"
OWNER_FREE = "none"
SHARED = "shared"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")


@dataclass(frozen=True)
class Listing:
    """A GET operation that lists the owner's objects of one resource, page by page."""

    method: str
    path: str
    resource: str
    items: str = ""  # JSON pointer to the array in the 200 body ("" = the body is the array)
    id: str = "/id"  # JSON pointer to an object's id within an item
    next_cursor: str | None = None  # JSON pointer to the next page's cursor (null on the last)
    cursor_parameter: str | None = None  # query parameter that takes the cursor
    offset_parameter: str | None = None  # query parameter that takes how many items to skip
    parents: Mapping[str, str] = field(default_factory=dict)  # path parameter -> its resource
    views: tuple[Mapping[str, Any], ...] = ({},)  # query parameters of each read-back


@dataclass(frozen=True)
class Owned:
    """What the checks need to know about one operation."""

    method: str
    path: str
    secured: bool | None  # None: the spec says nothing (no `security` here nor globally)
    owner: str | None  # the owner path parameter; None when owner-free or undeclared
    owner_free: bool
    shared: bool
    owner_schema: Mapping[str, Any]
    resource_ids: Mapping[str, str]  # path parameter -> resource
    id_schemas: Mapping[str, Mapping[str, Any]]  # path parameter -> its JSON Schema
    listing: Listing | None
    # An owner named elsewhere than the path: ("query", parameter) or ("body", JSON pointer).
    named_owner: tuple[str, str] | None = None


@dataclass(frozen=True)
class Declarations:
    operations: Mapping[tuple[str, str], Owned]
    listings: tuple[Listing, ...]
    problems: tuple[str, ...]

    def operation(self, method: str, path: str) -> Owned | None:
        return self.operations.get((method.upper(), path))

    def resources(self) -> set[str]:
        return {r for op in self.operations.values() for r in op.resource_ids.values()}


def resolve(spec: Mapping[str, Any], node: Any) -> Any:
    """Follow local `$ref`s until the node is not a reference."""
    while isinstance(node, Mapping) and "$ref" in node:
        target: Any = spec
        for part in str(node["$ref"]).removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def pointer(document: Any, path: str) -> Any:
    """The value at a JSON pointer (RFC 6901); KeyError/IndexError if absent."""
    for part in path.split("/")[1:] if path else []:
        token = part.replace("~1", "/").replace("~0", "~")
        document = document[int(token)] if isinstance(document, list) else document[token]
    return document


def _operations(
    spec: Mapping[str, Any],
) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    for path, item in spec.get("paths", {}).items():
        for method in HTTP_METHODS:
            if method in item:
                yield method.upper(), path, item[method], item


def _parameters(
    spec: Mapping[str, Any], raw: Mapping[str, Any], item: Mapping[str, Any]
) -> dict[tuple[str, str], dict[str, Any]]:
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for param in [*item.get("parameters", []), *raw.get("parameters", [])]:
        resolved = resolve(spec, param)
        merged[(resolved["in"], resolved["name"])] = resolved
    return merged


def _listing(
    method: str, path: str, value: Any, resource_ids: Mapping[str, str], problems: list[str]
) -> Listing | None:
    where = f"{method} {path}: {LISTS}"
    if isinstance(value, str):
        value = {"resource": value}
    if not isinstance(value, Mapping) or not isinstance(value.get("resource"), str):
        problems.append(f"{where} must be a resource name or a mapping with `resource`")
        return None
    known = {
        "resource",
        "items",
        "id",
        "next-cursor",
        "cursor-parameter",
        "offset-parameter",
        "views",
    }
    if unknown := sorted(set(value) - known):
        problems.append(f"{where} has unknown keys {unknown}")
    if ("next-cursor" in value) != ("cursor-parameter" in value):
        problems.append(f"{where} needs both `next-cursor` and `cursor-parameter`, or neither")
    if method != "GET":
        problems.append(f"{where} is on a {method}; a listing is a GET")
    views = value.get("views", [{}])
    if not isinstance(views, list) or not all(isinstance(v, Mapping) for v in views) or not views:
        problems.append(f"{where}: `views` must be a non-empty list of query parameter mappings")
        views = [{}]
    return Listing(
        method=method,
        path=path,
        resource=value["resource"],
        items=str(value.get("items", "")),
        id=str(value.get("id", "/id")),
        next_cursor=value.get("next-cursor"),
        cursor_parameter=value.get("cursor-parameter"),
        offset_parameter=value.get("offset-parameter"),
        parents=dict(resource_ids),
        views=tuple(dict(v) for v in views),
    )


def _secured(security: Any) -> bool | None:
    """Whether credentials are required: None when undeclared, False when an alternative is `{}`."""
    if security is None:
        return None
    return bool(security) and all(bool(requirement) for requirement in security)


def read(spec: Mapping[str, Any]) -> Declarations:
    """The spec's ownership declarations, and every way in which they are incomplete."""
    problems: list[str] = []
    operations: dict[tuple[str, str], Owned] = {}
    for method, path, raw, item in _operations(spec):
        where = f"{method} {path}"
        params = _parameters(spec, raw, item)
        path_params = {name: p for (kind, name), p in params.items() if kind == "path"}
        secured = _secured(raw.get("security", spec.get("security")))
        declared = raw.get(OWNER)
        marked = [name for name, p in path_params.items() if p.get(OWNER) is True]
        shared = declared == SHARED
        owner_free = declared in (OWNER_FREE, SHARED)
        owner: str | None = None
        named_owner: tuple[str, str] | None = None
        in_query = [
            n for (kind, n), p in params.items() if kind == "query" and p.get(OWNER) is True
        ]
        if isinstance(declared, Mapping) and declared.get("in") in ("body", "query"):
            key = "pointer" if declared["in"] == "body" else "name"
            if not isinstance(declared.get(key), str):
                problems.append(f"{where}: {OWNER} in the {declared['in']} needs `{key}`")
            else:
                named_owner = (str(declared["in"]), declared[key])
            declared = None
        elif in_query:
            named_owner = ("query", in_query[0])
        if owner_free:
            if marked:
                problems.append(f"{where}: declared owner-free, yet {marked[0]} is an owner")
        elif isinstance(declared, str):
            owner = declared
        elif declared is not None:
            problems.append(f"{where}: {OWNER} must be a path parameter's name, none or shared")
        elif len(marked) == 1:
            owner = marked[0]
        elif len(marked) > 1:
            problems.append(f"{where}: several owner parameters {marked}")
        if owner is not None and owner not in path_params:
            problems.append(f"{where}: owner {owner!r} is not a path parameter")
            owner = None
        if secured and owner is None and not owner_free and named_owner is None:
            problems.append(
                f"{where}: names no owner parameter ({OWNER}: true on a path parameter) and "
                f"is not declared owner-free ({OWNER}: {OWNER_FREE})"
            )
        resource_ids: dict[str, str] = {}
        for name, param in path_params.items():
            resource = param.get(RESOURCE_ID)
            if isinstance(resource, str) and resource:
                resource_ids[name] = resource
            elif resource is not None:
                problems.append(f"{where}: {RESOURCE_ID} of {name} must be a resource name")
            elif owner is not None and name != owner:
                # An id the checks cannot recognise is an id they would never probe.
                problems.append(f"{where}: path parameter {name} declares no {RESOURCE_ID}")
        listing = None
        if LISTS in raw:
            listing = _listing(method, path, raw[LISTS], resource_ids, problems)
            if listing is not None and owner is None:
                problems.append(f"{where}: a listing must name its owner parameter")
            for query in (listing.cursor_parameter, listing.offset_parameter) if listing else ():
                if query is not None and ("query", query) not in params:
                    problems.append(f"{where}: no query parameter {query}")
        operations[(method, path)] = Owned(
            method=method,
            path=path,
            secured=secured,
            owner=owner,
            owner_free=owner_free,
            shared=shared,
            owner_schema=resolve(spec, path_params[owner].get("schema", {})) if owner else {},
            resource_ids=resource_ids,
            id_schemas={n: resolve(spec, path_params[n].get("schema", {})) for n in resource_ids},
            listing=listing,
            named_owner=named_owner,
        )
    listings = tuple(op.listing for op in operations.values() if op.listing is not None)
    listed = {listing.resource for listing in listings}
    for op in operations.values():
        for name, resource in op.resource_ids.items():
            if resource not in listed:
                problems.append(
                    f"{op.method} {op.path}: {name} is the id of {resource}, "
                    f"which no operation lists ({LISTS}: {resource})"
                )
    return Declarations(operations, listings, tuple(dict.fromkeys(problems)))


def parameter_schema(
    spec: Mapping[str, Any], method: str, path: str, name: str, location: str = "path"
) -> Mapping[str, Any]:
    """The resolved JSON Schema of one parameter of an operation ({} when it has none)."""
    item = spec.get("paths", {}).get(path, {})
    param = _parameters(spec, item.get(method.lower(), {}), item).get((location, name), {})
    return resolve(spec, param.get("schema", {})) if param else {}
