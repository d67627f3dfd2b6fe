"""main.py's create_app: the task routes tried first, and no request two routes could answer."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Match

from fixtures.api import make_settings
from todo_api.main import create_app
from todo_api.tasks import routes as task_routes

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
VALUES = ("1", "tasks", "auth", "api", "healthz", "openapi.json", "docs")


def _matches(app: FastAPI, method: str, path: str) -> tuple[set[Any], set[Any]]:
    """The routes that match fully, and those that match but for the method (a 405)."""
    full: set[Any] = set()
    partial: set[Any] = set()
    for context in iter_route_contexts(list(app.router.routes)):
        scope = {"type": "http", "method": method, "path": path, "root_path": ""}
        match, _ = context.matches(scope)
        found = (
            context.path,
            tuple(sorted(getattr(context.original_route, "methods", None) or ())),
        )
        if match is Match.FULL:
            full.add(found)
        elif match is Match.PARTIAL:
            partial.add(found)
    return full, partial


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


def test_task_routes_come_first_and_no_request_matches_two_routes(tmp_path: Path) -> None:
    """The router tries routes in order and takes the first match: as no request matches two
    routes (nor, short of the method, two), putting the task routes first changes no answer."""
    app = create_app(make_settings(tmp_path))
    tried = [context.path for context in iter_route_contexts(list(app.router.routes))]
    router = APIRouter()
    task_routes.add_task_routes(router)
    task_paths = [getattr(route, "path", None) for route in router.routes]
    # First of all, ahead of the spec's and the docs' that the app's constructor added.
    assert tried[: len(task_paths)] == task_paths
    assert {"/openapi.json", "/static-offline-docs", "/docs"} <= set(tried[len(task_paths) :])
    paths = _paths(app)
    assert len(paths) > 50
    for method, path in itertools.product(METHODS, sorted(paths)):
        full, partial = _matches(app, method, path)
        assert len(full) <= 1, (method, path, full)
        # Short of the method, only routes of one template (one router, in its own order).
        assert full or len({template for template, _ in partial}) <= 1, (method, path, partial)
