"""The contract itself: valid OpenAPI 3.1, secure by default, every error a documented problem."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

import schemathesis_ownership as ownership
from spec_model import Operation, operations, resolve
from todo_api.spec import load_spec

SPEC = load_spec()
OPS = list(operations(SPEC))
PUBLIC = {("GET", "/"), ("GET", "/healthz"), ("GET", "/readyz")}
SECURED = [op for op in OPS if op.key not in PUBLIC]
OWNERSHIP = ownership.read(SPEC)


def _ids(ops: list[Operation]) -> list[str]:
    return [f"{op.method} {op.path}" for op in ops]


def test_spec_is_valid_openapi_3_1() -> None:
    assert SPEC["openapi"].startswith("3.1.")
    validate(SPEC)


def test_operation_ids_are_unique_and_camel_case() -> None:
    ids = [op.raw["operationId"] for op in OPS]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert operation_id[0].islower(), operation_id
        assert operation_id.isalnum(), operation_id


def test_bearer_jwt_is_the_default_security() -> None:
    scheme = SPEC["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == scheme | {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert SPEC["security"] == [{"bearerAuth": []}]


@pytest.mark.parametrize("op", OPS, ids=_ids(OPS))
def test_every_operation_is_secured_unless_an_explicit_public_probe(op: Operation) -> None:
    if op.key in PUBLIC:
        assert op.raw.get("security") == [], "public probes say security: [] explicitly"
        assert not op.path.startswith("/api")
    else:
        assert op.security(SPEC) == [{"bearerAuth": []}]
        assert op.path.startswith("/api")


@pytest.mark.parametrize("op", SECURED, ids=_ids(SECURED))
def test_secured_operations_document_their_refusals(op: Operation) -> None:
    codes = set(op.raw["responses"])
    assert "401" in codes
    challenge = resolve(SPEC, op.raw["responses"]["401"])["headers"]["WWW-Authenticate"]
    assert resolve(SPEC, challenge).get("required") is True
    declared = OWNERSHIP.operation(*op.key)
    assert declared is not None
    if declared.owner is not None:
        assert {"403", "422"} <= codes, "the owner can differ from sub, or break its pattern"
    if declared.resource_ids:
        assert "404" in codes
    if "requestBody" in op.raw:
        assert {"413", "422"} <= codes
    # Every authenticated request is counted against the user's and the address's budgets.
    assert "429" in codes, "rate limits apply to every /api operation"
    too_many = resolve(SPEC, op.raw["responses"]["429"])["headers"]
    assert resolve(SPEC, too_many["Retry-After"]).get("required") is True
    assert {"RateLimit", "RateLimit-Policy"} <= set(too_many)
    if op.raw["operationId"] == "createTask":
        assert "409" in codes, "the task quota"


def test_ownership_declarations_are_complete() -> None:
    """x-owner, x-resource-id and x-lists (schemathesis_ownership) say all the checks need."""
    assert OWNERSHIP.problems == ()


@pytest.mark.parametrize("op", SECURED, ids=_ids(SECURED))
def test_every_api_operation_names_its_owner_or_is_declared_owner_free(op: Operation) -> None:
    declared = OWNERSHIP.operation(*op.key)
    assert declared is not None
    assert declared.owner is not None or declared.owner_free
    if declared.owner_free:
        assert op.raw["x-owner"] == "none"
        assert not any(p["in"] == "path" for p in op.parameters(SPEC).values())


def test_every_id_parameter_belongs_to_a_listed_resource() -> None:
    listed = {listing.resource for listing in OWNERSHIP.listings}
    assert OWNERSHIP.resources() <= listed
    assert OWNERSHIP.resources() == {"Task"}


@pytest.mark.parametrize("op", OPS, ids=_ids(OPS))
def test_every_error_is_problem_json(op: Operation) -> None:
    for code, response in op.raw["responses"].items():
        if int(code) < 400:
            continue
        content = resolve(SPEC, response)["content"]
        assert list(content) == ["application/problem+json"], (op.key, code)
        schema = content["application/problem+json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Problem"}


def test_request_bodies_are_closed_objects() -> None:
    for op in OPS:
        body = op.raw.get("requestBody")
        if body is None:
            continue
        schema = resolve(SPEC, body["content"]["application/json"]["schema"])
        assert schema["additionalProperties"] is False, op.key


def _walk(node: Any) -> list[Any]:
    found = [node]
    if isinstance(node, dict):
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


def test_no_openapi_3_0_nullable_leftovers() -> None:
    assert not [n for n in _walk(SPEC) if isinstance(n, dict) and "nullable" in n]


def test_created_task_declares_location_and_links() -> None:
    created = SPEC["paths"]["/api/{user_id}/tasks"]["post"]["responses"]["201"]
    assert created["headers"]["Location"]["required"] is True
    links = created["links"]
    targets = {link["operationId"] for link in links.values()}
    assert {"getTask", "replaceTask", "updateTask", "toggleTaskCompletion", "deleteTask"} <= targets
    for link in links.values():
        assert link["parameters"]["user_id"] == "$request.path.user_id"
        if "task_id" in link["parameters"]:
            assert link["parameters"]["task_id"] == "$response.body#/id"
