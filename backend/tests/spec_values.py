"""Another valid value for a field, from its JSON Schema: what a probe sends to ask for "the same
request but for this one field". Shared by the Idempotency-Key tests and the Schemathesis check
(contract_tests/st_safe_writes.py), so both vary every property the spec gives a create — a field
added later is varied without anyone touching them.

Fails closed: a schema it cannot vary raises, so a new kind of field breaks the tests that need
it instead of being left out of them.
"""

from __future__ import annotations

from typing import Any

from spec_model import resolve

# Far from any value a test or a generator would pick on its own; two, for when one is taken.
_DATES = ("2031-05-06T07:08:09Z", "2032-06-07T08:09:10Z")
_WORDS = ("varied", "changed")


def properties(spec: dict[str, Any], schema: Any) -> dict[str, dict[str, Any]]:
    """An object schema's properties, each resolved."""
    schema = resolve(spec, schema)
    return {name: resolve(spec, value) for name, value in schema.get("properties", {}).items()}


def current_value(schema: dict[str, Any], body: dict[str, Any], name: str) -> Any:
    """What the server takes for `name` in `body`: the value sent, else the schema's default."""
    return body[name] if name in body else schema.get("default")


def other_value(schema: dict[str, Any], current: Any) -> Any:
    """A non-null value `schema` accepts that differs from `current` (as the server compares it:
    strings after trimming)."""
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    if "enum" in schema:
        return next(value for value in schema["enum"] if value != current and value is not None)
    if "boolean" in types:
        return not current
    if "integer" in types or "number" in types:
        value = (current if isinstance(current, int | float) else 0) + 1
        if "maximum" in schema and value > schema["maximum"]:
            value = schema.get("minimum", value - 2)
        return value
    if "string" in types:
        candidates = _DATES if schema.get("format") == "date-time" else _WORDS
        stripped = current.strip() if isinstance(current, str) else current
        return next(value for value in candidates if value != stripped)
    raise ValueError(f"no other value known for the schema {schema!r}: teach spec_values.py")
