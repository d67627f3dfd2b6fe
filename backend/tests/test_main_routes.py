"""main.py's create_app: the task routes tried first, and no request answered by another route."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Match

import todo_api.main
from fixtures.api import make_settings
from todo_api.main import create_app
from todo_api.tasks import routes as task_routes

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
VALUES = ("1", "tasks", "auth", "api", "healthz", "openapi.json", "docs")


def _chosen(app: FastAPI, method: str, path: str) -> tuple[str, Any, Any]:
    """What the router picks, its included routers' routes in their order: the first full
    match, else the first partial (405); as the route's template and methods."""
    partial: tuple[str, Any, Any] = ("none", None, None)
    for context in iter_route_contexts(list(app.router.routes)):
        scope = {"type": "http", "method": method, "path": path, "root_path": ""}
        match, _ = context.matches(scope)
        found = (context.path, sorted(getattr(context.original_route, "methods", None) or ()))
        if match is Match.FULL:
            return ("full", *found)
        if match is Match.PARTIAL and partial[0] == "none":
            partial = ("partial", *found)
    return partial


def _paths(app: FastAPI) -> set[str]:
    """Every route's template with each of VALUES in its parameters, and a few strays."""
    paths = {"/", "/api", "/api/", "/api/x", "/api/x/tasks/1/complete/x", "/nowhere"}
    for context in iter_route_contexts(list(app.routes)):
        template = context.path
        names = re.findall(r"{[^}]+}", template)
        for values in itertools.product(VALUES, repeat=len(names)):
            path = template
            for name, value in zip(names, values, strict=True):
                path = path.replace(name, value, 1)
            paths.add(path)
    return paths


def test_task_routes_come_first_and_every_request_meets_the_route_it_met_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(make_settings(tmp_path / "first"))
    assert getattr(app.router.routes[0], "original_router", None) is task_routes.router
    with monkeypatch.context() as patch:
        patch.setattr(todo_api.main, "tasks_first", lambda routes, router: None)
        before = create_app(make_settings(tmp_path / "before"))
    assert getattr(before.router.routes[0], "original_router", None) is not task_routes.router
    paths = _paths(app)
    assert len(paths) > 50
    for method, path in itertools.product(METHODS, sorted(paths)):
        assert _chosen(app, method, path) == _chosen(before, method, path), (method, path)
