"""The configuration file (`schemathesis-ownership.toml`) and Web Fuzzing Commons auth documents,
read into an `Ownership`."""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .binding import PROBLEM_MEMBERS, Identity, Ownership

FILENAME = "schemathesis-ownership.toml"
ENVIRONMENT = "SCHEMATHESIS_OWNERSHIP_CONFIG"
KEYS = {
    "mint",
    "forged",
    "wfc",
    "users",
    "caller",
    "attackers",
    "challenge",
    "foreign-statuses",
    "volatile-members",
    "problem-members",
    "replays",
}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(value: str) -> str:
    """`${NAME}` replaced by the environment variable (credentials stay out of the file)."""

    def variable(match: re.Match[str]) -> str:
        if match.group(1) not in os.environ:
            raise ValueError(f"ownership: environment variable {match.group(1)} is not set")
        return os.environ[match.group(1)]

    return _VARIABLE.sub(variable, value)


def load_callable(reference: str) -> Callable[..., Any]:
    """`package.module:function`, imported."""
    module, _, name = reference.partition(":")
    if not module or not name:
        raise ValueError(f"ownership: {reference!r} is not `module:function`")
    found = getattr(importlib.import_module(module), name)
    if not callable(found):
        raise ValueError(f"ownership: {reference} is not callable")
    return found  # type: ignore[no-any-return]


def read_wfc(document: Mapping[str, Any]) -> tuple[Identity, ...]:
    """Users of a Web Fuzzing Commons auth document, `{"auth": [{"name", "fixedHeaders"}]}` (the
    file Schemathesis' `[auth.wfc]` reads); entries without fixed headers are left out."""
    users = []
    for entry in document.get("auth", []):
        headers = {h["name"]: _expand(str(h["value"])) for h in entry.get("fixedHeaders", [])}
        if headers:
            users.append(Identity(str(entry["name"]), headers))
    return tuple(users)


def from_mapping(data: Mapping[str, Any], base: Path = Path()) -> Ownership:
    """An `Ownership` from the file's keys (see the README); paths are relative to `base`."""
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise ValueError(f"ownership: unknown keys {unknown}; known: {sorted(KEYS)}")
    identities: tuple[Identity, ...] = ()
    if "wfc" in data:
        wfc = json.loads((base / data["wfc"]).read_text(encoding="utf-8"))
        identities += read_wfc(wfc)
    for name, user in data.get("users", {}).items():
        headers = {k: _expand(str(v)) for k, v in user.get("headers", {}).items()}
        cookies = {k: _expand(str(v)) for k, v in user.get("cookies", {}).items()}
        identities += (Identity(name, headers, cookies),)
    challenge = data.get("challenge", "Bearer")
    attackers = tuple(data.get("attackers", ()))
    if attackers and len(attackers) != 2:
        raise ValueError("ownership: attackers names two users")
    return Ownership(
        mint=load_callable(data["mint"]) if "mint" in data else None,
        identities=identities,
        forged=load_callable(data["forged"]) if "forged" in data else None,
        caller=str(data.get("caller", "")),
        attackers=attackers,
        challenge=challenge if challenge else None,
        foreign_statuses=frozenset(int(s) for s in data.get("foreign-statuses", [404])),
        volatile_members=frozenset(data.get("volatile-members", ())),
        replays=str(data.get("replays", "rotating")),
        problem_members=(
            PROBLEM_MEMBERS | frozenset(data["problem-members"])
            if "problem-members" in data
            else None
        ),
    )


def load(path: str | Path) -> Ownership:
    """Read a configuration file; its folder is importable (for `mint = "module:function"`)."""
    path = Path(path).resolve()
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    with path.open("rb") as file:
        return from_mapping(tomllib.load(file), path.parent)


def discover(start: Path | None = None) -> Ownership:
    """The file named by SCHEMATHESIS_OWNERSHIP_CONFIG, else the nearest
    schemathesis-ownership.toml from the working directory up."""
    if os.environ.get(ENVIRONMENT):
        return load(os.environ[ENVIRONMENT])
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / FILENAME).is_file():
            return load(folder / FILENAME)
    raise FileNotFoundError(f"ownership: no {FILENAME} here or above, and {ENVIRONMENT} unset")
