"""Path parameter values judged and made from their JSON Schema: a valid owner, a missing id."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

INT64_MAX = 2**63 - 1
# Shapes an id nobody holds is likely to fit, tried in order; each is cut or padded to the bounds.
_CANDIDATES = (
    "zzzzzzzzzzzzzzzz",
    "ZZZZZZZZZZZZZZZZ",
    "9999999999999999",
    "missing-missing-",
    "ffffffff-ffff-4fff-bfff-ffffffffffff",
)
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_."


def fits(value: Any, schema: Mapping[str, Any]) -> bool:
    """Whether a string path value satisfies the parameter's schema (length and pattern)."""
    if not isinstance(value, str):
        return False
    if len(value) < schema.get("minLength", 1):
        return False
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        return False
    pattern = schema.get("pattern")
    return pattern is None or re.search(pattern, value) is not None


def missing_value(schema: Mapping[str, Any], current: Any) -> Any:
    """A value valid for an id parameter that the attacker's own path holds no object under:
    the schema's largest integer, a recognisable filler, else the current id with one character
    changed (so a prefixed or hex id keeps its shape)."""
    if schema.get("type") == "integer":
        maximum = schema.get("maximum", INT64_MAX)
        return maximum - 1 if schema.get("exclusiveMaximum") is True else maximum
    if schema.get("format") == "uuid":
        nobody = "ffffffff-ffff-4fff-bfff-ffffffffffff"
        return nobody if current != nobody else "eeeeeeee-eeee-4eee-beee-eeeeeeeeeeee"
    low, high = schema.get("minLength", 1), schema.get("maxLength", 64)
    for candidate in _CANDIDATES:
        sized = (candidate * (1 + low // len(candidate)))[: max(low, min(high, len(candidate)))]
        if fits(sized, schema) and sized != current:
            return sized
    text = str(current)
    for position in reversed(range(len(text))):
        for replacement in _ALPHABET:
            changed = text[:position] + replacement + text[position + 1 :]
            if changed != text and fits(changed, schema):
                return changed
    raise ValueError(f"no other value than {current!r} fits the id schema {dict(schema)}")
