"""Requests derived from a case: sent as a given identity (never with the case's credentials),
described by what they sent, and answers compared without their volatile members."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from schemathesis import Case, Response

from .binding import Identity, Ownership


def path_value(value: Any) -> str:
    """A value as a path segment: percent-encoded, as the server will decode it."""
    return quote(str(value), safe="")


def as_identity(
    case: Case[Any], ownership: Ownership, identity: Identity, **path: Any
) -> Case[Any]:
    """The same request from `identity`: every credential any identity uses is taken off first,
    so a probe never carries the case's own. `path` values are given decoded."""
    probe = case.derive()
    headers, cookies = ownership.credential_names()
    for name in [name for name in probe.headers if name.lower() in headers]:
        del probe.headers[name]
    for name in cookies:
        probe.cookies.pop(name, None)
    probe.headers.update(identity.headers)
    probe.cookies.update(identity.cookies)
    probe.path_parameters.update({name: path_value(v) for name, v in path.items()})
    return probe


def carries_credentials(case: Case[Any], ownership: Ownership) -> bool:
    """Whether the case went out with credentials (a negative case may have dropped them)."""
    headers, cookies = ownership.credential_names()
    sent = any(name.lower() in headers and value for name, value in case.headers.items())
    return sent or any(case.cookies.get(name) for name in cookies)


def _short(value: str, limit: int = 32) -> str:
    return value if len(value) <= limit else f"{value[:limit]}…"


def sent(identity: Identity) -> str:
    """The credentials a probe carried, as a reader of the report needs them."""
    parts = [f"{name}: {_short(value)}" for name, value in identity.headers.items()]
    parts += [f"cookie {name}={_short(value)}" for name, value in identity.cookies.items()]
    return "; ".join(parts) or "no credentials"


def header(response: Response, name: str) -> str | None:
    values = response.headers.get(name.lower())
    return values[0] if values else None


def json_or_bytes(response: Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.content


def without(document: Any, members: Iterable[str]) -> Any:
    """The document without the named members, at any depth."""
    drop = frozenset(members)
    if isinstance(document, dict):
        return {k: without(v, drop) for k, v in document.items() if k not in drop}
    if isinstance(document, list):
        return [without(item, drop) for item in document]
    return document


def differing_members(first: Any, second: Any) -> set[str]:
    """Members whose values differ between two answers to one request: volatile ones."""
    if isinstance(first, dict) and isinstance(second, dict):
        found: set[str] = set()
        for key in first.keys() & second.keys():
            if first[key] != second[key]:
                nested = differing_members(first[key], second[key])
                found |= nested or {key}
        return found
    return set()


def same_answer(first: Response, second: Response, volatile: Iterable[str]) -> bool:
    """Same status and body, volatile members aside."""
    if first.status_code != second.status_code:
        return False
    same: bool = without(json_or_bytes(first), volatile) == without(json_or_bytes(second), volatile)
    return same


def changed(body: Any, keep: Iterable[str] = ()) -> Any:
    """The body with every top-level string and boolean changed but the members `keep` names,
    so that a write by someone else that lands shows in the owner's read-back."""
    if not isinstance(body, dict):
        return body
    kept = frozenset(keep)
    out = dict(body)
    for name, value in body.items():
        if name in kept:
            continue
        if isinstance(value, bool):
            out[name] = not value
        elif isinstance(value, str):
            out[name] = ("z" if value[:1] != "z" else "y") + value[1:]
    return out
