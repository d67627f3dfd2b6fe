"""The hand-written OpenAPI document: found, loaded once, and served instead of a generated one."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI
from fastapi.responses import Response

_PACKAGED = Path(__file__).with_name("openapi.yaml")  # inside a built wheel
_IN_REPO = Path(__file__).resolve().parents[3] / "openapi" / "openapi.yaml"  # editable install


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
    document = yaml.safe_load(spec_text())
    assert isinstance(document, dict)
    return document


def serve_spec(app: FastAPI) -> None:
    """`/openapi.json` (what the docs pages read) and `/openapi.yaml` both serve the contract."""
    document = load_spec()
    app.openapi = lambda: document  # type: ignore[method-assign]

    @app.get("/openapi.yaml", include_in_schema=False)
    async def openapi_yaml() -> Response:
        return Response(spec_text(), media_type="application/yaml")
