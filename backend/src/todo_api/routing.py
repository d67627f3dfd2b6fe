"""The route class of every operation: the request's shape is checked before the handler runs.

Bodies were already strict (closed schemas, strict types); this makes the rest of the request so:

- a query parameter the operation does not declare is a 422 naming it, and so is a parameter
  declared single-valued that comes more than once (FastAPI would silently take the last);
- on an operation that takes a JSON body, a Content-Type other than `application/json` or a
  `+json` type (UTF-8 only), or a body without a Content-Type, is a 415;
- on an operation that takes no body, a body is a 422 (`PATCH …/complete` with
  `{"completed": false}` must not toggle to true and answer 200).

What is allowed is read once, when the route is built, from the route's own dependant (its
dependencies' parameters included), so an operation that gains a query parameter needs no change
here. The checks wrap whatever handler the route class makes, so the task routes' planned path
(tasks/planned.py) gets them too.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from todo_api.errors import UnsupportedMediaType, ValidationFailed, loc_part

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

_SEQUENCES = (list, tuple, set, frozenset)
# Beyond this many query parameters a request is refused without naming each one.
MAX_NAMED = 20


def multi_valued(annotation: Any) -> bool:
    """`list[str]`, `set[int] | None`, `Annotated[list[str], ...]`: a parameter that repeats."""
    origin = typing.get_origin(annotation)
    if origin in _SEQUENCES:
        return True
    if origin is typing.Annotated:
        return multi_valued(typing.get_args(annotation)[0])
    return any(multi_valued(arg) for arg in typing.get_args(annotation))


def _query_fields(dependant: Dependant) -> list[Any]:
    """The query parameters of a dependant and of all its dependencies."""
    fields: list[Any] = list(dependant.query_params)
    for sub in dependant.dependencies:
        fields += _query_fields(sub)
    return fields


def is_json_media_type(value: str) -> bool:
    """`application/json` or `application/<anything>+json`, parameters allowed, charset UTF-8."""
    media, _, parameters = value.partition(";")
    media = media.strip().lower()
    kind, _, subtype = media.partition("/")
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
        return False
    for parameter in parameters.split(";"):
        name, _, charset = parameter.partition("=")
        charset = charset.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            return False
    return True


def _error(name: str, message: str, kind: str) -> dict[str, Any]:
    return {"loc": ["query", loc_part(name)], "msg": message, "type": kind}


class RequestShape:
    """What one operation accepts besides its body's content, computed once."""

    __slots__ = ("allowed", "json_body", "single")

    def __init__(self, route: APIRoute) -> None:
        fields = _query_fields(route.dependant)
        self.allowed = frozenset(field.alias for field in fields)
        self.single = frozenset(
            field.alias for field in fields if not multi_valued(field.field_info.annotation)
        )
        self.json_body = route.body_field is not None

    def check(self, request: Request) -> None:
        """Raise the 422 or 415 this request deserves, if any."""
        scope = request.scope
        if scope["query_string"]:
            self._check_query(request)
        # One pass over the raw headers (the body itself was already read by
        # middleware/body_limit.py; its framing says whether one came).
        content_type: bytes | None = None
        body = False
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                body = value.strip() != b"0"
            elif name == b"transfer-encoding":
                body = True
        if self.json_body:
            if content_type is not None:
                if not is_json_media_type(content_type.decode("latin-1")):
                    raise UnsupportedMediaType(
                        "The request body must be JSON: send Content-Type: application/json"
                    )
            elif body:
                raise UnsupportedMediaType(
                    "The request body has no Content-Type: send Content-Type: application/json"
                )
        elif body:
            raise ValidationFailed(
                "This operation takes no request body",
                errors=[{"loc": ["body"], "msg": "No body is accepted", "type": "body_forbidden"}],
            )

    def _check_query(self, request: Request) -> None:
        seen: set[str] = set()
        # Ordered and unique (dicts): a query string of thousands of names costs one pass.
        unknown: dict[str, None] = {}
        repeated: dict[str, None] = {}
        for name, _ in request.query_params.multi_items():
            if name not in self.allowed:
                unknown[name] = None
            elif name in seen and name in self.single:
                repeated[name] = None
            seen.add(name)
        if unknown or repeated:
            errors = [
                _error(name, "Unknown query parameter", "extra_forbidden") for name in unknown
            ]
            errors += [
                _error(name, "Takes one value and was given more", "repeated_parameter")
                for name in repeated
            ]
            raise ValidationFailed("The request was not valid", errors=errors[:MAX_NAMED])


class StrictRoute(APIRoute):
    """`APIRoute` whose handler first checks the request's shape (see the module docstring)."""

    def get_route_handler(self) -> Handler:
        return checked(RequestShape(self), self.unchecked_handler())

    def unchecked_handler(self) -> Handler:
        """The handler the checks wrap: FastAPI's own, or a subclass's (tasks/planned.py)."""
        return super().get_route_handler()


def checked(shape: RequestShape, handler: Handler) -> Handler:
    async def handle(request: Request) -> Response:
        shape.check(request)
        return await handler(request)

    return handle
