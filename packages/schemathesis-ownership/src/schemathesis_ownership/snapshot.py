"""An owner's data, read back by the owner through every declared listing, every page."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemathesis import Case

from .binding import Ownership
from .declarations import Declarations, Listing, pointer
from .probes import path_value, without

MAX_PAGES = 1000


@dataclass(frozen=True)
class Snapshot:
    pages: Mapping[str, tuple[Any, ...]]  # "GET /formatted/path" -> every item listed there
    objects: Mapping[str, frozenset[str]]  # resource -> its objects as canonical JSON

    def changes(self, other: Snapshot) -> list[str]:
        return sorted(
            key
            for key in {*self.pages, *other.pages}
            if self.pages.get(key) != other.pages.get(key)
        )


def canonical(item: Any) -> str:
    return json.dumps(item, sort_keys=True, separators=(",", ":"))


def walk(
    case: Case[Any],
    listing: Listing,
    owner_parameter: str,
    owner: str,
    ownership: Ownership,
    path: Mapping[str, Any],
    *,
    as_user: str | None = None,
    view: Mapping[str, Any] | None = None,
) -> tuple[int, list[Any]]:
    """(status of the first page, every item) of one listing, read as `as_user` (the owner),
    with the query parameters of `view`."""
    operation = case.operation.schema[listing.path][listing.method]
    identity = ownership.identity(as_user or owner)
    values = {name: path_value(value) for name, value in {**path, owner_parameter: owner}.items()}
    items: list[Any] = []
    query: dict[str, Any] = dict(view or {})
    for _ in range(MAX_PAGES):
        page = operation.Case(
            path_parameters=values,
            query=dict(query),
            headers=dict(identity.headers),
            cookies=dict(identity.cookies),
        ).call()
        if not 200 <= page.status_code < 300:
            return page.status_code, items
        body = page.json()
        found = without(pointer(body, listing.items), ownership.volatile_members)
        items += found
        if listing.offset_parameter is not None:
            if not found:
                break
            query[listing.offset_parameter] = len(items)
            continue
        if listing.next_cursor is None or listing.cursor_parameter is None:
            break
        cursor = pointer(body, listing.next_cursor)
        if cursor is None:
            break
        query[listing.cursor_parameter] = cursor
    return 200, items


def take(case: Case[Any], declarations: Declarations, ownership: Ownership, owner: str) -> Snapshot:
    """Everything the owner can list: parents first, then each child listing under each parent."""
    pages: dict[str, tuple[Any, ...]] = {}
    # resource -> one {resource: id} context per object (its own id and its parents' ids)
    known: dict[str, list[dict[str, Any]]] = {}
    objects: dict[str, set[str]] = {}
    pending = list(declarations.listings)
    while pending:
        ready = [
            listing
            for listing in pending
            if all(parent in known for parent in listing.parents.values())
        ]
        assert ready, f"listings whose parents no listing provides: {pending}"
        for listing in ready:
            pending.remove(listing)
            op = declarations.operation(listing.method, listing.path)
            assert op is not None
            assert op.owner is not None
            needed = set(listing.parents.values())
            # The deepest parent's contexts name every parent id this listing needs.
            deepest = [r for r in needed if all(set(c) >= needed for c in known[r])]
            contexts = known[deepest[0]] if deepest else [{}]
            found = known.setdefault(listing.resource, [])
            for context in contexts:
                path = {name: context[resource] for name, resource in listing.parents.items()}
                for view in listing.views:
                    status, items = walk(case, listing, op.owner, owner, ownership, path, view=view)
                    assert status == 200, (
                        f"the owner cannot list their own {listing.resource}: {status} on "
                        f"{listing.method} {listing.path} {canonical(view)}"
                    )
                    where = f"{listing.method} {listing.path} {canonical(path)} {canonical(view)}"
                    pages[where] = tuple(items)
                    objects.setdefault(listing.resource, set()).update(map(canonical, items))
                    if view == listing.views[0]:
                        found += [
                            {**context, listing.resource: pointer(i, listing.id)} for i in items
                        ]
    return Snapshot(pages, {k: frozenset(v) for k, v in objects.items()})
