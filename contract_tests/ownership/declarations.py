"""Who owns what, as the spec declares it: `x-owner`, `x-resource-id` and `x-lists`, read as data.

- `x-owner: true` on a path parameter: it names the owner (the token's subject must equal it).
  `x-owner: <name>` on an operation names that parameter instead; `x-owner: none` declares the
  operation owner-free (it reads only the caller's own token, like `/api/me`).
- `x-resource-id: <Resource>` on a path parameter: it is the id of a `<Resource>` object.
- `x-lists: <Resource>` on a GET operation: it lists the owner's `<Resource>` objects, as a JSON
  array body; or `x-lists: {resource, items, id, next-cursor, cursor-parameter}` where `items`
  and `next-cursor` are JSON pointers into the 200 body, `id` one into each item (default `/id`),
  and `cursor-parameter` the query parameter that takes `next-cursor` for the next page;
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
    parents: Mapping[str, str] = field(default_factory=dict)  # path parameter -> its resource
    views: tuple[Mapping[str, Any], ...] = ({},)  # query parameters of each read-back


@dataclass(frozen=True)
class Owned:
    """What the checks need to know about one operation."""

    method: str
    path: str
    secured: bool
    owner: str | None  # the owner path parameter; None when owner-free or undeclared
    owner_free: bool
    owner_schema: Mapping[str, Any]
    resource_ids: Mapping[str, str]  # path parameter -> resource
    id_schemas: Mapping[str, Mapping[str, Any]]  # path parameter -> its JSON Schema
    listing: Listing | None


@dataclass(frozen=True)
class Declarations:
    operations: Mapping[tuple[str, str], Owned]
    listings: tuple[Listing, ...]
    problems: tuple[str, ...]

    @property
    def declared(self) -> bool:
        """Whether the spec declares ownership at all (else the checks do not apply)."""
        return any(op.owner is not None or op.owner_free for op in self.operations.values())

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
    known = {"resource", "items", "id", "next-cursor", "cursor-parameter", "views"}
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
        parents=dict(resource_ids),
        views=tuple(dict(v) for v in views),
    )


def read(spec: Mapping[str, Any]) -> Declarations:
    """The spec's ownership declarations, and every way in which they are incomplete."""
    problems: list[str] = []
    operations: dict[tuple[str, str], Owned] = {}
    for method, path, raw, item in _operations(spec):
        where = f"{method} {path}"
        params = _parameters(spec, raw, item)
        path_params = {name: p for (kind, name), p in params.items() if kind == "path"}
        secured = bool(raw.get("security", spec.get("security", [])))
        declared = raw.get(OWNER)
        marked = [name for name, p in path_params.items() if p.get(OWNER) is True]
        owner_free = declared == OWNER_FREE
        owner: str | None = None
        if owner_free:
            if marked:
                problems.append(f"{where}: declared owner-free, yet {marked[0]} is an owner")
        elif isinstance(declared, str):
            owner = declared
        elif declared is not None:
            problems.append(f"{where}: {OWNER} must be a path parameter's name or `none`")
        elif len(marked) == 1:
            owner = marked[0]
        elif len(marked) > 1:
            problems.append(f"{where}: several owner parameters {marked}")
        if owner is not None and owner not in path_params:
            problems.append(f"{where}: owner {owner!r} is not a path parameter")
            owner = None
        if secured and owner is None and not owner_free:
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
            cursor = listing.cursor_parameter if listing is not None else None
            if cursor is not None and ("query", cursor) not in params:
                problems.append(f"{where}: no query parameter {cursor}")
        operations[(method, path)] = Owned(
            method=method,
            path=path,
            secured=secured,
            owner=owner,
            owner_free=owner_free,
            owner_schema=resolve(spec, path_params[owner].get("schema", {})) if owner else {},
            resource_ids=resource_ids,
            id_schemas={n: resolve(spec, path_params[n].get("schema", {})) for n in resource_ids},
            listing=listing,
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
