"""Typed API errors and the one place that renders them as RFC 9457 problem+json.

    Exception
    ├── ApiError                    status, stable `type` slug, title, detail, extra headers
    │   ├── InvalidHttpRequest      400  bytes that do not parse as HTTP/1.1 (server.py)
    │   ├── CorsPreflightRefused    400  a CORS preflight from an origin, or for a method or
    │   │                                header, that CORS_ORIGINS does not allow
    │   ├── InvalidToken            401  no, malformed, badly signed or expired token, bad claim;
    │   │                                auth/middleware.py turns each AuthError into one
    │   ├── Forbidden               403  path user_id is not the token's subject
    │   ├── NotFound                404  no such resource for this owner (or no such route)
    │   ├── MethodNotAllowed        405  with the full Allow list
    │   ├── RequestTimeout          408  request head or body not received in time (server.py)
    │   ├── QuotaExceeded           409  the create would pass MAX_TASKS_PER_USER; nothing written
    │   ├── IdempotencyKeyInFlight  409  a create with this Idempotency-Key is still running
    │   ├── PreconditionFailed      412  If-Match names no current version; nothing written
    │   ├── PayloadTooLarge         413  request body over the configured limit
    │   ├── UnsupportedMediaType    415  a body that does not say it is JSON (routing.py)
    │   ├── ValidationFailed        422  body, path or query rejected (an unknown or repeated
    │   │                                query parameter, a body where none is taken); nothing
    │   │                                was written
    │   ├── IdempotencyKeyReused    422  this Idempotency-Key came with another body before
    │   ├── PreconditionRequired    428  a write without If-Match under REQUIRE_IF_MATCH
    │   ├── RateLimited             429  a request budget is spent; with Retry-After
    │   ├── HeadersTooLarge         431  request line and headers over the limit (server.py)
    │   ├── ServiceUnavailable      503  not ready, e.g. no signing keys yet (/readyz); every
    │   │   │                            503 carries Retry-After
    │   │   └── DatabaseUnavailable 503  the database (or its disk) does not answer; rolled
    │   │                                back, may retry
    │   ├── StorageFull             507  the database's disk is full; nothing written, reads
    │   │                                still served
    │   └── HttpError               any other framework status, in the same shape
    ├── auth.tokens.AuthError       a token is unacceptable (plain Python, no HTTP); its `reason`
    │   │                           is safe to show and becomes InvalidToken's detail
    │   └── UnknownKey              its `kid` is not in the key set (yet): a refetch may find it
    ├── db.DatabaseNotReady         at start only: cannot connect, schema missing or old, or a
    │                               role that RLS would not hold; `todo-api` prints it, exits 1
    └── settings.ConfigError        at start only: a setting is missing or unusable; `todo-api`
                                    prints it (the variable, never its value) and exits 2

Routes and middleware raise or render ApiErrors; nothing else builds an error body. The start-up
errors never reach a client: the server does not start.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

from todo_api.middleware.request_id import REQUEST_ID_HEADER, hardening_headers, request_id_of

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:todo-api:problem:"
REALM = "todo-api"

log = logging.getLogger("todo_api.errors")


class ApiError(Exception):
    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal Server Error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.headers = dict(headers or {})
        self.errors = list(errors) if errors is not None else None


class InvalidHttpRequest(ApiError):
    status, slug, title = 400, "invalid-http-request", "Bad Request"


class CorsPreflightRefused(ApiError):
    status, slug, title = 400, "cors-preflight-refused", "Bad Request"


class InvalidToken(ApiError):
    """RFC 6750 §3: `error="invalid_token"` only when a token was actually sent."""

    status, slug, title = 401, "invalid-token", "Unauthorized"

    def __init__(self, detail: str, *, token_sent: bool = True) -> None:
        challenge = f'Bearer realm="{REALM}"'
        if token_sent:
            challenge += f', error="invalid_token", error_description="{detail}"'
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class Forbidden(ApiError):
    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(ApiError):
    status, slug, title = 404, "not-found", "Not Found"


class MethodNotAllowed(ApiError):
    status, slug, title = 405, "method-not-allowed", "Method Not Allowed"


class RequestTimeout(ApiError):
    status, slug, title = 408, "request-timeout", "Request Timeout"


class QuotaExceeded(ApiError):
    status, slug, title = 409, "quota-exceeded", "Conflict"


class IdempotencyKeyInFlight(ApiError):
    status, slug, title = 409, "idempotency-key-in-flight", "Conflict"


class PreconditionFailed(ApiError):
    status, slug, title = 412, "precondition-failed", "Precondition Failed"


class PayloadTooLarge(ApiError):
    status, slug, title = 413, "payload-too-large", "Content Too Large"


class UnsupportedMediaType(ApiError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported Media Type"


class ValidationFailed(ApiError):
    status, slug, title = 422, "validation-error", "Unprocessable Content"


class IdempotencyKeyReused(ApiError):
    status, slug, title = 422, "idempotency-key-reused", "Unprocessable Content"


class PreconditionRequired(ApiError):
    status, slug, title = 428, "precondition-required", "Precondition Required"


class RateLimited(ApiError):
    status, slug, title = 429, "rate-limited", "Too Many Requests"


class HeadersTooLarge(ApiError):
    status, slug, title = 431, "headers-too-large", "Request Header Fields Too Large"


# A 503 says when to retry: soon enough that a blip costs a client little, late enough that a
# fleet of clients does not retry at request rate into a database that is coming back.
RETRY_AFTER_SECONDS = 2


class ServiceUnavailable(ApiError):
    status, slug, title = 503, "service-unavailable", "Service Unavailable"

    def __init__(self, detail: str | None = None, *, headers: Mapping[str, str] | None = None):
        super().__init__(
            detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS), **(headers or {})}
        )


class DatabaseUnavailable(ServiceUnavailable):
    """Gone, unreachable, locked, dropped mid-transaction or pool exhausted: not a bug (500), and
    the client may retry (nothing was written).

    `reason` (never sent) says why, for the log line of dependencies.py; None when the database
    itself is not at fault (this process's pool is exhausted). `disk`: its disk failed (SQLite's
    I/O error), not the database.
    """

    def __init__(
        self,
        detail: str = "The database does not answer",
        *,
        reason: str | None = None,
        disk: bool = False,
    ) -> None:
        super().__init__(detail)
        self.reason, self.disk = reason, disk


class StorageFull(ApiError):
    """507, not 503: reads are still served, and a retry will not succeed until an operator frees
    space, so no Retry-After invites one. The transaction rolled back: nothing was written."""

    status, slug, title = 507, "storage-full", "Insufficient Storage"

    def __init__(self, reason: str) -> None:
        super().__init__("The database's disk is full: nothing was written")
        self.reason = reason


class HttpError(ApiError):
    """Any other framework status, rendered in the same shape."""

    slug = "http-error"

    def __init__(self, status: int, title: str) -> None:
        super().__init__()
        self.status, self.title = status, title


def problem_response(error: ApiError) -> Response:
    """The single renderer: every error response of the service is built here."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + error.slug,
        "title": error.title,
        "status": error.status,
    }
    if error.detail:
        body["detail"] = error.detail
    if error.errors is not None:
        body["errors"] = error.errors
    return JSONResponse(
        body, status_code=error.status, headers=error.headers, media_type=PROBLEM_MEDIA_TYPE
    )


def _allowed_methods(request: Request) -> str:
    # Starlette's 405 names only the first route that matched the path; collect all of them
    # (iter_route_contexts also walks routes of included routers).
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        match, _ = route.matches(request.scope)
        if match is Match.PARTIAL:
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


# The bounds of Problem.errors in the contract. A `loc` can name a key the client sent (an
# unknown field), and a body can carry thousands of them: both are cut to fit.
MAX_ERRORS = 100
MAX_LOC_PARTS = 20
MAX_LOC_PART = 200


def loc_part(part: object) -> str:
    text = str(part)
    return text if len(text) <= MAX_LOC_PART else text[: MAX_LOC_PART - 1] + "…"


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Never echo the rejected input back: it may be large, or something the caller should not see.
    return [
        {
            "loc": [loc_part(part) for part in err.get("loc", ())[:MAX_LOC_PARTS]],
            "msg": str(err.get("msg", "")).removeprefix("Value error, "),
            "type": err.get("type", ""),
        }
        for err in exc.errors()[:MAX_ERRORS]
    ]


async def _on_api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return problem_response(exc)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    error: ApiError
    if exc.status_code == 404:
        error = NotFound("No such resource")
    elif exc.status_code == 405:
        error = MethodNotAllowed(f"{request.method} is not allowed here")
    elif exc.status_code == 400:
        # FastAPI's catch-all for a body it could not decode (not UTF-8, bad encoding).
        error = ValidationFailed("The request body is not valid UTF-8 JSON")
    elif exc.status_code == 413:
        error = PayloadTooLarge()
    else:
        error = HttpError(exc.status_code, str(exc.detail))
    error.headers = {**(exc.headers or {}), **error.headers}
    if exc.status_code == 405:
        error.headers["Allow"] = _allowed_methods(request)
    return problem_response(error)


async def _on_validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return problem_response(
        ValidationFailed("The request was not valid", errors=_validation_errors(exc))
    )


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    # Starlette calls this outside every middleware, RequestIdMiddleware included: the id is
    # added here, so the client can quote it and an operator find the traceback.
    request_id = request_id_of(request.scope)
    log.exception("unhandled error", extra={"request_id": request_id})
    response = problem_response(ApiError("An unexpected error occurred"))
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    response.raw_headers.extend(hardening_headers(request.url.path))
    return response


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)
