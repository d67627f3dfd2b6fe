"""Two guards of this product that show over HTTP on any case, under Schemathesis (registered by
importing this module; st_hooks does): authentication comes before the body, and CORS answers
only the listed origin, without credentials. Both send one probe derived from the case.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis import Case, Response

# The origin the fuzzed apps list (FUZZ_SETTINGS in st_hooks); any other is refused.
LISTED_ORIGIN = "http://127.0.0.1:3000"
# Past the default 64 KiB body limit, and not the object any operation takes.
_OVERSIZED = "x" * (70 * 1024)


def _header(response: Response, name: str) -> str | None:
    values = response.headers.get(name.lower())
    return values[0] if values else None


def _operation(case: Case[Any]) -> dict[str, Any] | None:
    """The case's operation as the spec writes it; None for a method the spec does not list
    (Schemathesis also sends those, to see them refused)."""
    operation = case.operation.schema.raw_schema["paths"][case.path].get(case.method.lower())
    return operation if isinstance(operation, dict) else None


@schemathesis.check
def body_waits_for_authentication(ctx: Any, response: Response, case: Case[Any]) -> bool | None:
    """A secured operation that takes a body, sent without credentials and with a body both too
    large and malformed: 401, so a stranger learns nothing from (and costs nothing by) a body the
    service never reads."""
    operation = _operation(case)
    if operation is None or "requestBody" not in operation:
        return True
    if not operation.get("security", case.operation.schema.raw_schema.get("security")):
        return True
    # A new case, not one derived from this: nothing of the case (its credentials, its metadata)
    # goes with the probe.
    probe = case.operation.Case(
        path_parameters=dict(case.path_parameters or {}),
        body=_OVERSIZED,
        media_type="application/json",
    )
    answer = probe.call()
    assert answer.status_code == 401, (
        f"{case.method} {case.formatted_path} without credentials, with a 70 KiB body that is "
        f"not JSON of its schema: {answer.status_code}, not 401 (the body was read first)"
    )
    return None


@schemathesis.check
def cors_names_only_the_listed_origin(ctx: Any, response: Response, case: Case[Any]) -> bool | None:
    """A read, again from the listed origin: allowed by name, never `*`, and never with
    credentials (tokens travel in a header the page sets, not in cookies). Reads only: the CORS
    layer answers every method alike, and a repeated write would change what other checks see."""
    if case.method != "GET":
        return True
    probe = case.derive()
    probe.headers["Origin"] = LISTED_ORIGIN
    answer = probe.call()
    allowed = _header(answer, "access-control-allow-origin")
    credentials = _header(answer, "access-control-allow-credentials")
    assert (allowed, credentials) == (LISTED_ORIGIN, None), (
        f"{case.method} {case.formatted_path} from {LISTED_ORIGIN}: "
        f"Access-Control-Allow-Origin {allowed!r}, Access-Control-Allow-Credentials "
        f"{credentials!r}; want the origin itself and no credentials"
    )
    return None
