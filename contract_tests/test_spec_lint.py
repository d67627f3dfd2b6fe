"""The contract as consumers read it: linted, its examples valid, the service's headers declared.

Spectral (with the OWASP API Security ruleset) and Redocly are pinned in `contract_tests/lint`
and installed from its lockfile by the first test that needs them; they run offline.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from fixtures.node_tools import npm_ci
from spec_model import Operation, operations, resolve
from todo_api.spec import load_spec

REPO = Path(__file__).resolve().parents[1]
SPEC_FILE = REPO / "openapi" / "openapi.yaml"
LINT_DIR = REPO / "contract_tests" / "lint"
LINT_ENV = {
    **os.environ,
    "REDOCLY_TELEMETRY": "off",
    "SCARF_ANALYTICS": "false",
    "NO_UPDATE_NOTIFIER": "1",
    "npm_config_update_notifier": "false",
}

SPEC = load_spec()
OPS = list(operations(SPEC))
SPEC_URI = "urn:todo-api:openapi"
REGISTRY: Registry[Any] = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(SPEC))
# Headers the service sends; declaring any other (X-RateLimit-*, say) would be a lie.
SENT_HEADERS = {
    "X-Request-ID",
    "Server-Timing",
    "WWW-Authenticate",
    "Location",
    "RateLimit",
    "RateLimit-Policy",
    "Retry-After",
    "ETag",
    "Idempotent-Replayed",
}


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=LINT_DIR, env=LINT_ENV, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def lint_tools() -> Path:
    """`node_modules/.bin` of contract_tests/lint, installed from the lockfile when stale."""
    npm_ci(LINT_DIR, "the spec linters")
    return LINT_DIR / "node_modules" / ".bin"


def test_spectral_with_owasp_rules_finds_no_error(lint_tools: Path, tmp_path: Path) -> None:
    report = tmp_path / "spectral.json"
    spectral = _run(
        [
            str(lint_tools / "spectral"),
            "lint",
            "--ruleset",
            str(LINT_DIR / ".spectral.yaml"),
            "--format",
            "json",
            "--output",
            str(report),
            "--fail-severity",
            "error",
            str(SPEC_FILE),
        ],
        timeout=120,
    )
    assert report.is_file(), f"spectral wrote no report:\n{spectral.stdout}\n{spectral.stderr}"
    findings: list[dict[str, Any]] = json.loads(report.read_text(encoding="utf-8"))
    # Severity 0 is an error; 1 a warning, reported here but not fatal.
    lines = [
        f"{'error' if f['severity'] == 0 else 'warning'} {f['code']} at "
        f"{'.'.join(map(str, f['path']))}: {f['message']}"
        for f in findings
    ]
    print("\n".join(lines))
    assert [f for f in findings if f["severity"] == 0] == [], "\n".join(lines)
    assert spectral.returncode == 0, spectral.stderr


def test_redocly_lint_finds_no_problem(lint_tools: Path) -> None:
    redocly = _run(
        [
            str(lint_tools / "redocly"),
            "lint",
            "--config",
            str(LINT_DIR / "redocly.yaml"),
            "--format",
            "json",
            str(SPEC_FILE),
        ],
        timeout=120,
    )
    result = json.loads(redocly.stdout) if redocly.stdout.startswith("{") else {}
    problems = [
        f"{p['severity']} {p['ruleId']} at {p['location'][0]['pointer']}: {p['message']}"
        for p in result.get("problems", [])
    ]
    assert redocly.returncode == 0, "\n".join(problems) or f"{redocly.stdout}\n{redocly.stderr}"
    assert result["totals"] == result["totals"] | {"errors": 0, "warnings": 0}, "\n".join(problems)


# --- Every example validates against its schema -------------------------------------------------


@dataclass(frozen=True)
class Example:
    at: str  # JSON pointer of the example value
    schema_at: str  # JSON pointer of the schema it illustrates
    value: Any


def _pointer(parts: list[str]) -> str:
    return "#" + "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


_SUBSCHEMA = ("items", "not", "additionalProperties", "contains", "if", "then", "else")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")


def _schema_examples(schema: Any, at: list[str]) -> Iterator[Example]:
    """`example` (OpenAPI) and `examples` (JSON Schema, a list) in a schema and its subschemas."""
    if not isinstance(schema, dict):
        return
    if "example" in schema:
        yield Example(_pointer([*at, "example"]), _pointer(at), schema["example"])
    for i, value in enumerate(schema.get("examples", [])):
        yield Example(_pointer([*at, "examples", str(i)]), _pointer(at), value)
    for key in _SUBSCHEMA:
        yield from _schema_examples(schema.get(key), [*at, key])
    for key in _SUBSCHEMA_LISTS:
        for i, sub in enumerate(schema.get(key, [])):
            yield from _schema_examples(sub, [*at, key, str(i)])
    for key in _SUBSCHEMA_MAPS:
        for name, sub in schema.get(key, {}).items():
            yield from _schema_examples(sub, [*at, key, name])


def _holder_examples(holder: dict[str, Any], at: list[str]) -> Iterator[Example]:
    """A parameter, header or media type: `example`, or `examples` as named Example Objects."""
    schema_at = _pointer([*at, "schema"])
    if "example" in holder:
        yield Example(_pointer([*at, "example"]), schema_at, holder["example"])
    for name, example in holder.get("examples", {}).items():
        example = resolve(SPEC, example)
        assert "externalValue" not in example, "examples live in the spec, not outside it"
        yield Example(_pointer([*at, "examples", name, "value"]), schema_at, example["value"])
    yield from _schema_examples(holder["schema"], [*at, "schema"])


def _examples(node: Any, at: list[str]) -> Iterator[Example]:
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _examples(item, [*at, str(i)])
        return
    if not isinstance(node, dict):
        return
    if isinstance(node.get("schema"), dict):
        yield from _holder_examples(node, at)
    for key, value in node.items():
        if key in ("schema", "example", "examples"):
            continue  # covered above; named Example Objects are checked where they are used
        if at == ["components"] and key == "schemas":
            for name, schema in value.items():
                yield from _schema_examples(schema, [*at, key, name])
            continue
        yield from _examples(value, [*at, key])


EXAMPLES = list(_examples(SPEC, []))


def test_the_spec_has_examples_to_check() -> None:
    assert len(EXAMPLES) >= 10, [e.at for e in EXAMPLES]
    # Without rfc3339-validator jsonschema skips date-time silently.
    assert "date-time" in Draft202012Validator.FORMAT_CHECKER.checkers


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.at for e in EXAMPLES])
def test_example_validates_against_its_schema(example: Example) -> None:
    validator = Draft202012Validator(
        {"$ref": SPEC_URI + example.schema_at},
        registry=REGISTRY,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    errors = [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in validator.iter_errors(example.value)
    ]
    assert not errors, f"{example.at} does not match {example.schema_at}: {errors}"


# --- The headers the service sends are declared ------------------------------------------------


def _responses() -> Iterator[tuple[Operation, str, dict[str, Any]]]:
    for op in OPS:
        for code, response in op.raw["responses"].items():
            yield op, code, resolve(SPEC, response)


RESPONSES = list(_responses())


@pytest.mark.parametrize(
    ("op", "code", "response"),
    RESPONSES,
    ids=[f"{op.method} {op.path} {code}" for op, code, _ in RESPONSES],
)
def test_response_declares_the_headers_the_service_sends(
    op: Operation, code: str, response: dict[str, Any]
) -> None:
    headers = {name: resolve(SPEC, h) for name, h in response.get("headers", {}).items()}
    declared = {"X-Request-ID"}  # the request-id middleware wraps every response
    always: set[str] = set()  # sent on every such response, so declared `required: true`
    if code == "401":
        always.add("WWW-Authenticate")
    if op.path.startswith("/api") and code.startswith("2"):
        declared.add("Server-Timing")
    if op.raw["operationId"] == "createTask" and code == "201":
        always.add("Location")
        declared.add("Idempotent-Replayed")  # on a replay only (issue 13)
    if (op.raw["operationId"] == "createTask" and code == "201") or (
        "{task_id}" in op.path and code in ("200", "304")
    ):
        always.add("ETag")  # every single-task answer carries the task's version (issue 13)
    if op.path.startswith("/api") and code[0] in "24":
        # Whatever budget counted the request (the per-user ones, or the failed-auth one on a
        # 401); absent when limits are off, so not required.
        declared |= {"RateLimit", "RateLimit-Policy"}
    if code in ("429", "503"):
        always.add("Retry-After")
    missing = (declared | always) - set(headers)
    assert not missing, sorted(missing)
    for name in always:
        assert headers[name].get("required") is True, name
    assert set(headers) <= SENT_HEADERS, "declares a header the service never sends"
    for name, header in headers.items():
        assert header["schema"]["type"] == "string", name
