"""The app's own view of its operations, to compare with the hand-written spec."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from spec_model import Operation, operations
from todo_api.spec import load_spec


def generated_schema(app: FastAPI) -> dict[str, Any]:
    # app.openapi is the hand-written spec; FastAPI's generator still sees the real routes.
    return get_openapi(title="app", version="0", openapi_version="3.1.0", routes=app.routes)


def by_key(spec: dict[str, Any]) -> dict[tuple[str, str], Operation]:
    return {op.key: op for op in operations(spec)}


def operation_differences(
    app: FastAPI,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(routes the spec does not document, documented operations the app lacks)."""
    app_ops, spec_ops = set(by_key(generated_schema(app))), set(by_key(load_spec()))
    return sorted(app_ops - spec_ops), sorted(spec_ops - app_ops)
