"""Reading the hand-written spec as data: operations, effective security, resolved refs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str
    raw: dict[str, Any]
    path_item: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    def security(self, spec: dict[str, Any]) -> list[dict[str, list[str]]]:
        return self.raw.get("security", spec.get("security", []))  # type: ignore[no-any-return]

    def parameters(self, spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for param in [*self.path_item.get("parameters", []), *self.raw.get("parameters", [])]:
            resolved = resolve(spec, param)
            merged[(resolved["in"], resolved["name"])] = resolved
        return merged


def resolve(spec: dict[str, Any], node: Any) -> Any:
    """Follow local `$ref`s (one level at a time, recursively) inside a node."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def operations(spec: dict[str, Any] | None = None) -> Iterator[Operation]:
    # Imported here: the CLI's hooks use `resolve` alone, without the app's web layer.
    from todo_api.spec import load_spec

    spec = spec or load_spec()
    for path, item in spec["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield Operation(method.upper(), path, item[method], item)
