"""The hand-written OpenAPI document: found, loaded once, and served instead of a generated one."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import fastapi_offline
import yaml
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

# libyaml's parser when PyYAML was built with it (its wheels are): the same safe constructors as
# yaml.SafeLoader, a tenth of the CPU, paid by every process that serves (research F5).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PACKAGED = Path(__file__).with_name("openapi.yaml")  # inside a built wheel
_IN_REPO = Path(__file__).resolve().parents[3] / "openapi" / "openapi.yaml"  # editable install
_OFFLINE_ASSETS = Path(fastapi_offline.__file__).with_name("static")
# ReDoc hard-codes its attribution logo to a CDN, with no option to turn it off. An empty data: URL
# makes no request; the image fails to load, ReDoc then drops it and keeps the attribution's text.
_REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def spec_path() -> Path:
    for candidate in (_PACKAGED, _IN_REPO):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("openapi/openapi.yaml not found next to the package or in the repo")


@cache
def spec_text() -> str:
    return spec_path().read_text(encoding="utf-8")


@cache
def load_spec() -> dict[str, Any]:
    document = yaml.load(spec_text(), Loader=_SAFE_LOADER)  # noqa: S506 (a safe loader)
    assert isinstance(document, dict)
    return document


def with_example_user(document: dict[str, Any], user_id: str) -> dict[str, Any]:
    """The document with `user_id` as the example of the owner parameter: Swagger UI fills
    "Try it out" with a parameter's example, and the demo user's first Execute is then theirs
    (the spec's own example is a stranger's id: a 403)."""
    parameters = dict(document["components"]["parameters"])
    parameters["UserId"] = {**parameters["UserId"], "example": user_id}
    components = {**document["components"], "parameters": parameters}
    return {**document, "components": components}


def serve_spec(app: FastAPI, *, example_user: str | None = None) -> None:
    """`/openapi.json` (what the docs pages read) and `/openapi.yaml` both serve the contract;
    with `example_user`, /openapi.json names that user in the owner parameter's example (the
    only difference: examples bind no one)."""
    document = load_spec()
    if example_user is not None:
        document = with_example_user(document, example_user)
    app.openapi = lambda: document  # type: ignore[method-assign]

    @app.get("/openapi.yaml", include_in_schema=False)
    async def openapi_yaml() -> Response:
        return Response(spec_text(), media_type="application/yaml")


@cache
def offline_redoc_bundle() -> bytes:
    """fastapi-offline's ReDoc bundle without its one remote request (the logo)."""
    bundle = (_OFFLINE_ASSETS / "redoc.standalone.js").read_text(encoding="utf-8")
    return bundle.replace(_REDOC_CDN_LOGO, "data:,").encode()


def serve_redoc(app: FastAPI) -> None:
    """`/redoc` from local files only (the app is built with `redoc_url=None`): the page
    fastapi-offline would serve, with the bundle above instead of its own."""

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{root}/static-offline-docs/favicon.png",
            with_google_fonts=False,
        )

    @app.get("/redoc/redoc.standalone.js", include_in_schema=False)
    async def redoc_bundle() -> Response:
        return Response(offline_redoc_bundle(), media_type="text/javascript; charset=utf-8")


class Index(BaseModel):
    docs: str
    redoc: str
    openapi: str


def serve_index(app: FastAPI) -> None:
    """`/` says where the documentation is. Links are relative to this server (its root path),
    never built from the Host header."""

    @app.get("/", operation_id="getIndex")
    async def index(request: Request) -> Index:
        root = request.scope.get("root_path", "").rstrip("/")
        return Index(docs=f"{root}/docs", redoc=f"{root}/redoc", openapi=f"{root}/openapi.json")
