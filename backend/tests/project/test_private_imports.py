"""Product code uses FastAPI, Starlette and pydantic through their public names only.

A private name (a module or attribute whose name starts with `_`, dunders aside) can change or go
in any release; relying on three of them pinned FastAPI to one minor version (research P20,
P24). The check
reads each module's syntax tree: imports of a private module or name, and attribute access or
`getattr` with a private name on anything bound to one of these packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

FRAMEWORKS = frozenset({"fastapi", "starlette", "pydantic", "pydantic_core"})
PRODUCT = Path(__file__).resolve().parents[2] / "src" / "todo_api"


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _framework_path(dotted: str) -> bool:
    return dotted.split(".")[0] in FRAMEWORKS


def _private_path(dotted: str) -> bool:
    return _framework_path(dotted) and any(_private(part) for part in dotted.split("."))


def _dotted(node: ast.expr, bound: dict[str, str]) -> str | None:
    """`fastapi.routing._x` for an attribute chain rooted at a name bound to a framework path."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id in bound:
        return ".".join([bound[node.id], *reversed(parts)])
    return None


def private_uses(source: str) -> list[str]:
    """Each private framework name `source` imports or reaches, as `line: dotted.name`."""
    tree = ast.parse(source)
    bound: dict[str, str] = {}  # local name -> the framework path it stands for
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not _framework_path(alias.name):
                    continue
                if _private_path(alias.name):
                    found.append(f"{node.lineno}: {alias.name}")
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    bound[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not _framework_path(node.module):
                continue
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                if _private_path(dotted):
                    found.append(f"{node.lineno}: {dotted}")
                bound[alias.asname or alias.name] = dotted
    for node in ast.walk(tree):
        dotted: str | None = None
        if isinstance(node, ast.Attribute):
            dotted = _dotted(node, bound)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr", "setattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            owner = _dotted(node.args[0], bound)
            dotted = None if owner is None else f"{owner}.{node.args[1].value}"
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (
                    isinstance(node.func, ast.Name)
                    and node.func.id in ("import_module", "__import__")
                )
            )
        ):
            dotted = node.args[0].value
        if dotted is not None and _private_path(dotted):
            found.append(f"{node.lineno}: {dotted}")
    return sorted(set(found), key=lambda line: int(line.split(":")[0]))


@pytest.mark.parametrize(
    "source",
    [
        "import fastapi._compat",
        "import starlette._utils as u",
        "from fastapi._compat import ModelField",
        "from fastapi.dependencies.utils import _get_param_model",
        "from pydantic import _internal",
        "from pydantic._internal._model_construction import ModelMetaclass",
        "import fastapi.routing\nfastapi.routing._effective_route_context_var.get()",
        "import fastapi\nfastapi.routing._effective_route_context_var",
        "from fastapi import routing\nrouting._effective_route_context_var",
        "import fastapi.routing as r\nx = r._IncludedRouter",
        "from fastapi.routing import APIRoute\nAPIRoute._embed_body_fields",
        "import fastapi.routing\ngetattr(fastapi.routing, '_effective_route_context_var')",
        "import importlib\nimportlib.import_module('fastapi._compat')",
    ],
)
def test_each_way_of_reaching_a_private_name_is_found(source: str) -> None:
    assert private_uses(source), source


@pytest.mark.parametrize(
    "source",
    [
        "import fastapi\nfastapi.__version__",
        "from fastapi.routing import APIRoute, iter_route_contexts",
        "from starlette.requests import Request\nRequest(scope)._private_of_ours",
        "import json\njson._default_decoder",
        "from todo_api import _internal",
        "from . import _sibling",
        "class A:\n    def f(self):\n        return self._x",
    ],
)
def test_public_names_and_other_packages_private_names_pass(source: str) -> None:
    assert private_uses(source) == [], source


def test_product_code_imports_no_private_framework_name() -> None:
    modules = sorted(PRODUCT.rglob("*.py"))
    assert len(modules) > 30  # the product's tree, not an empty directory
    found = {
        str(path.relative_to(PRODUCT)): uses
        for path in modules
        if (uses := private_uses(path.read_text(encoding="utf-8")))
    }
    assert found == {}
