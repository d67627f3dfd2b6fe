"""The app and the spec describe the same API, checked in both directions.

The app side is FastAPI's own view of its routes (`get_openapi` over `app.routes`); the spec side
is the hand-written YAML. Neither may have an operation, parameter, body field or success status
that the other lacks.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from fixtures.api import make_settings
from parity import by_key, generated_schema, operation_differences
from spec_model import Operation, resolve
from todo_api.auth.identity import current_user
from todo_api.main import create_app
from todo_api.routing import RequestShape, StrictRoute
from todo_api.spec import load_spec

SPEC = load_spec()
CONSTRAINTS = ("minimum", "maximum", "minLength", "maxLength", "pattern", "enum", "default")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return create_app(make_settings(tmp_path_factory.mktemp("parity")))


@pytest.fixture(scope="module")
def generated(app: FastAPI) -> dict[str, Any]:
    return generated_schema(app)


def _pairs(
    generated: dict[str, Any],
) -> list[tuple[tuple[str, str], Operation, Operation]]:
    app_ops, spec_ops = by_key(generated), by_key(SPEC)
    return [(key, app_ops[key], spec_ops[key]) for key in sorted(spec_ops) if key in app_ops]


def _json_type(schema: dict[str, Any]) -> set[str]:
    """Normalise `type: [X, 'null']` and pydantic's `anyOf: [{type: X}, {type: null}]`."""
    if "anyOf" in schema:
        return set().union(*(_json_type(s) for s in schema["anyOf"]))
    kind = schema.get("type")
    if kind is None and "const" in schema:
        return {type(schema["const"]).__name__.replace("str", "string")}
    return {kind} if isinstance(kind, str) else set(kind or ())


def _constraints(schema: dict[str, Any]) -> dict[str, Any]:
    found = {k: schema[k] for k in CONSTRAINTS if k in schema}
    for branch in schema.get("anyOf", []):
        found |= {k: branch[k] for k in CONSTRAINTS if k in branch}
    return found


def test_same_operations_both_ways(app: FastAPI) -> None:
    undocumented, unimplemented = operation_differences(app)
    assert undocumented == [], "routes the spec does not document"
    assert unimplemented == [], "documented operations the app lacks"


def test_same_operation_ids(generated: dict[str, Any]) -> None:
    for key, app_op, spec_op in _pairs(generated):
        assert app_op.raw["operationId"] == spec_op.raw["operationId"], key


def test_same_parameters_with_same_types_and_bounds(generated: dict[str, Any]) -> None:
    for key, app_op, spec_op in _pairs(generated):
        app_params, spec_params = app_op.parameters(generated), spec_op.parameters(SPEC)
        assert set(app_params) == set(spec_params), key
        for name, spec_param in spec_params.items():
            app_param = app_params[name]
            assert app_param.get("required", False) == spec_param.get("required", False), name
            app_schema = resolve(generated, app_param["schema"])
            spec_schema = resolve(SPEC, spec_param["schema"])
            # An optional query parameter is not "nullable": drop FastAPI's spurious null.
            assert _json_type(app_schema) - {"null"} == _json_type(spec_schema), (key, name)
            assert _constraints(app_schema) == _constraints(spec_schema), (key, name)


def _body_schema(doc: dict[str, Any], op: Operation) -> dict[str, Any] | None:
    body = op.raw.get("requestBody")
    if body is None:
        return None
    assert list(body["content"]) == ["application/json"]
    schema: dict[str, Any] = resolve(doc, body["content"]["application/json"]["schema"])
    return schema


def test_same_request_bodies(generated: dict[str, Any]) -> None:
    for key, app_op, spec_op in _pairs(generated):
        app_body, spec_body = _body_schema(generated, app_op), _body_schema(SPEC, spec_op)
        assert (app_body is None) == (spec_body is None), key
        if app_body is None or spec_body is None:
            continue
        assert app_op.raw["requestBody"].get("required") == spec_op.raw["requestBody"]["required"]
        assert set(app_body["properties"]) == set(spec_body["properties"]), key
        assert set(app_body.get("required", [])) == set(spec_body.get("required", [])), key
        assert app_body.get("additionalProperties") is spec_body["additionalProperties"] is False
        for field, spec_field in spec_body["properties"].items():
            app_field = resolve(generated, app_body["properties"][field])
            spec_field = resolve(SPEC, spec_field)
            assert _json_type(app_field) == _json_type(spec_field), (key, field)
            app_bounds = {k: v for k, v in _constraints(app_field).items() if k != "pattern"}
            spec_bounds = {k: v for k, v in _constraints(spec_field).items() if k != "pattern"}
            assert app_bounds == spec_bounds, (key, field)


def test_same_success_statuses_and_documented_errors(generated: dict[str, Any]) -> None:
    for key, app_op, spec_op in _pairs(generated):
        app_codes, spec_codes = set(app_op.raw["responses"]), set(spec_op.raw["responses"])
        assert {c for c in app_codes if c < "300"} == {c for c in spec_codes if c < "300"}, key
        assert app_codes <= spec_codes, key


def test_same_success_response_shapes(generated: dict[str, Any]) -> None:
    for key, app_op, spec_op in _pairs(generated):
        for code, spec_response in spec_op.raw["responses"].items():
            spec_content = resolve(SPEC, spec_response).get("content", {})
            if not code.startswith("2") or "application/json" not in spec_content:
                continue
            app_schema = resolve(
                generated, app_op.raw["responses"][code]["content"]["application/json"]["schema"]
            )
            spec_schema = resolve(SPEC, spec_content["application/json"]["schema"])
            assert set(app_schema["properties"]) == set(spec_schema["properties"]), key
            assert set(app_schema.get("required", [])) == set(spec_schema["required"]), key


def _depends_on(dependant: Any, target: object) -> bool:
    return any(d.call is target or _depends_on(d, target) for d in dependant.dependencies)


def test_security_matches_the_implementation(app: FastAPI) -> None:
    """Spec-secured ⇔ under the middleware's /api gate and handed a verified identity."""
    spec_ops = by_key(SPEC)
    seen = 0
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            op = spec_ops[(method, route.path)]
            secured_in_spec = op.security(SPEC) == [{"bearerAuth": []}]
            gated = route.path.startswith("/api/")
            typed = _depends_on(route.dependant, current_user)
            assert secured_in_spec == gated == typed, (method, route.path)
            seen += 1
    assert seen == len(spec_ops)


def test_every_operation_refuses_what_the_spec_does_not_declare(app: FastAPI) -> None:
    """`x-closed-query-parameters`: each operation's route checks the request's shape
    (routing.py), allowing exactly the query parameters the spec declares for it, single-valued
    unless an array, and a body only where the spec has a requestBody."""
    assert SPEC["x-closed-query-parameters"] is True
    spec_ops = {op.raw["operationId"]: op for op in by_key(SPEC).values()}
    checked = set()
    for route in iter_route_contexts(app.routes):
        operation_id = getattr(route, "operation_id", None)
        if operation_id not in spec_ops:
            continue
        original = getattr(route, "original_route", route)
        assert isinstance(original, StrictRoute), f"{operation_id} skips the request-shape checks"
        shape = RequestShape(original)
        op = spec_ops[operation_id]
        query = {name: p for (where, name), p in op.parameters(SPEC).items() if where == "query"}
        assert shape.allowed == set(query), operation_id
        single = {name for name, p in query.items() if p["schema"].get("type") != "array"}
        assert shape.single == single, operation_id
        assert shape.json_body == ("requestBody" in op.raw), operation_id
        checked.add(operation_id)
    assert checked == set(spec_ops)
