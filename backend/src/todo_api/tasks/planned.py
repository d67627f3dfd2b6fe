"""A route class that answers a well-formed request from a plan read once from the endpoint.

FastAPI's handler solves a route's dependencies for every request by walking the dependency tree
and, for each node, looking up and validating four kinds of parameters: with the owner rule and
the service that is most of what a read costs in FastAPI (research P14, P20). `PlannedRoute` reads
the endpoint's signature once, when the route is built, with `inspect` and `typing`, into a plan:
each path, query and header parameter with a pydantic `TypeAdapter` of its own annotated type (the
`Path`/`Query`/`Header` it declares is a pydantic `FieldInfo`: the same constraints FastAPI
applies), the `Depends` functions to await in FastAPI's order, and a `TypeAdapter` of the route's
response model. Only documented interfaces: the plan never reads FastAPI's dependant or private
helpers, so a FastAPI upgrade cannot break it at import (research P24).

The plan answers only requests it can answer exactly as FastAPI would. Anything else goes to
FastAPI's own handler (`super().get_route_handler()`), untouched: a required parameter missing or
any parameter invalid (so every 422 and its error list come from FastAPI), dependency overrides or
FastAPI telemetry in use, and every route whose shape the plan does not cover (request bodies,
cookies, yield, sync or shared dependencies, security scopes, sequences or models as parameters,
streaming replies, response-model options). Both run behind routing.py's request-shape checks.

A dependency added where the route is included (`include_router(..., dependencies=...)`) is not in
the endpoint's signature: `check_planned_routes` refuses such an app at start rather than let the
plan skip it.
"""

from __future__ import annotations

import inspect
import typing
import warnings
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import params
from fastapi.datastructures import DefaultPlaceholder
from fastapi.routing import iter_route_contexts
from fastapi.telemetry import get_telemetry_data
from fastapi.utils import is_body_allowed_for_status_code
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.warnings import UnsupportedFieldAttributeWarning
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from todo_api.routing import Handler, StrictRoute, multi_valued

# Defaults FastAPI would deepcopy per request; for these the copy is the value itself.
_IMMUTABLE = (str, int, float, bool, type(None))
_MISSING = object()
_SOURCES = ((params.Path, "path"), (params.Query, "query"), (params.Header, "header"))


class Unplannable(Exception):
    """The endpoint has a shape the plan does not cover: FastAPI's handler answers."""


@dataclass(slots=True, frozen=True)
class _Param:
    name: str
    source: str  # "path", "query" or "header"
    key: str
    adapter: TypeAdapter[Any]
    default: Any  # _MISSING when required


@dataclass(slots=True, frozen=True)
class _Step:
    """One function: its `Depends` first, in signature order, then the call, as FastAPI does."""

    call: Callable[..., Coroutine[Any, Any, Any]]
    subs: tuple[tuple[str, _Step], ...]
    params: tuple[_Param, ...]
    request_name: str | None
    response_name: str | None


def _marker(hint: Any) -> tuple[Any, Any]:
    """(the annotated type, FastAPI's marker) of `Annotated[T, Query(...)]` and the like."""
    if typing.get_origin(hint) is not Annotated:
        raise Unplannable(f"{hint!r} declares no Path, Query, Header or Depends")
    annotation, *metadata = typing.get_args(hint)
    markers = [m for m in metadata if isinstance(m, params.Depends | params.Param)]
    if len(markers) != 1:
        raise Unplannable(f"{hint!r} has {len(markers)} FastAPI markers")
    return annotation, markers[0]


def _param(name: str, annotation: Any, marker: params.Param, default: Any) -> _Param:
    source = next((s for kind, s in _SOURCES if isinstance(marker, kind)), None)
    if source is None or marker.validation_alias not in (None, marker.alias):
        raise Unplannable(f"{name}: a cookie or a parameter with a validation alias")
    if marker.validate_default:
        raise Unplannable(f"{name}: a default FastAPI would validate")
    if multi_valued(annotation) or (
        isinstance(annotation, type) and issubclass(annotation, BaseModel)
    ):
        raise Unplannable(f"{name}: a sequence or a model")
    key = marker.alias or name
    if isinstance(marker, params.Header) and marker.alias is None and marker.convert_underscores:
        key = name.replace("_", "-")
    if marker.default_factory is not None:
        raise Unplannable(f"{name}: a default factory")
    if default is inspect.Parameter.empty:
        default = _MISSING if marker.is_required() else marker.get_default()
    if default is not _MISSING and not isinstance(default, _IMMUTABLE):
        raise Unplannable(f"{name}: a mutable default")
    with warnings.catch_warnings():
        # The marker's alias and description mean nothing to a bare adapter; its constraints do.
        warnings.simplefilter("ignore", UnsupportedFieldAttributeWarning)
        adapter: TypeAdapter[Any] = TypeAdapter(Annotated[annotation, marker])
    return _Param(name, source, key, adapter, default)


def plan(call: Callable[..., Any], seen: set[Callable[..., Any]] | None = None) -> _Step:
    """The plan of `call` and its dependencies; `Unplannable` names what it does not cover."""
    seen = set() if seen is None else seen
    if not inspect.iscoroutinefunction(call):
        raise Unplannable(f"{call!r} is not an async function")
    if call in seen:  # FastAPI would solve a shared dependency once per request
        raise Unplannable(f"{call!r} is a dependency twice")
    seen.add(call)
    hints = typing.get_type_hints(call, include_extras=True)
    subs: list[tuple[str, _Step]] = []
    own: list[_Param] = []
    request_name = response_name = None
    for name, parameter in inspect.signature(call).parameters.items():
        if parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            raise Unplannable(f"{name}: positional-only or variadic")
        hint = hints.get(name)
        if hint is Request:
            request_name = name
            continue
        if hint is Response:
            response_name = name
            continue
        annotation, marker = _marker(hint)
        if isinstance(parameter.default, params.Depends | params.Param):
            raise Unplannable(f"{name}: a marker as default value")
        if isinstance(marker, params.Depends):
            if isinstance(marker, params.Security) or not marker.use_cache:
                raise Unplannable(f"{name}: security scopes or an uncached dependency")
            if marker.dependency is None:
                raise Unplannable(f"{name}: Depends() without a function")
            subs.append((name, plan(marker.dependency, seen)))
        else:
            own.append(_param(name, annotation, marker, parameter.default))
    return _Step(call, tuple(subs), tuple(own), request_name, response_name)


def _validated(
    step: _Step, sources: Mapping[str, Mapping[str, Any]], out: dict[int, dict[str, Any]]
) -> bool:
    """Every parameter of every step, or False at the first one FastAPI would refuse."""
    for _, sub in step.subs:
        if not _validated(sub, sources, out):
            return False
    values: dict[str, Any] = {}
    for param in step.params:
        raw = sources[param.source].get(param.key)
        if raw is None:
            if param.default is _MISSING:
                return False
            values[param.name] = param.default
            continue
        try:
            values[param.name] = param.adapter.validate_python(raw, from_attributes=True)
        except ValidationError:
            return False
    out[id(step)] = values
    return True


async def _solve(
    step: _Step, request: Request, response: Response, values: dict[int, dict[str, Any]]
) -> Any:
    arguments = values[id(step)]
    for name, sub in step.subs:
        arguments[name] = await _solve(sub, request, response, values)
    if step.request_name is not None:
        arguments[step.request_name] = request
    if step.response_name is not None:
        arguments[step.response_name] = response
    return await step.call(**arguments)


def _returns_response(call: Callable[..., Any]) -> bool:
    returns = typing.get_type_hints(call).get("return")
    return isinstance(returns, type) and issubclass(returns, Response)


class PlannedRoute(StrictRoute):
    """`StrictRoute` with a planned path for well-formed requests; FastAPI's handler for the
    rest (see the module docstring)."""

    planned: bool = False

    def unchecked_handler(self) -> Handler:
        fallback = super().unchecked_handler()
        self.planned = False
        if (
            self.dependencies
            or self.body_field is not None
            or not isinstance(self.response_class, DefaultPlaceholder)
            or self.response_model_include is not None
            or self.response_model_exclude is not None
            or not self.response_model_by_alias
            or self.response_model_exclude_unset
            or self.response_model_exclude_defaults
            or self.response_model_exclude_none
        ):
            return fallback
        try:
            step = plan(self.endpoint)
            if self.response_model is None and not _returns_response(self.endpoint):
                raise Unplannable("no response model: FastAPI's jsonable_encoder answers")
        except Unplannable:
            return fallback
        self.planned = True
        return _planned_handler(step, self.response_model, self.status_code, fallback)


def _planned_handler(
    step: _Step, model: Any, status_code: int | None, fallback: Handler
) -> Handler:
    adapter: TypeAdapter[Any] | None = None if model is None else TypeAdapter(model)

    async def handle(request: Request) -> Response:
        overrides = getattr(request.app, "dependency_overrides", None)
        if overrides or get_telemetry_data() is not None:
            return await fallback(request)
        sources = {
            "path": request.path_params,
            "query": request.query_params,
            "header": request.headers,
        }
        values: dict[int, dict[str, Any]] = {}
        if not _validated(step, sources, values):
            # FastAPI's own handler answers: the same 422 with the same error list.
            return await fallback(request)
        # The sub-response the endpoint may set headers and a status on, made as FastAPI does.
        sub_response = Response()
        del sub_response.headers["content-length"]
        sub_response.status_code = None  # type: ignore[assignment]
        raw = await _solve(step, request, sub_response, values)
        if isinstance(raw, Response):
            return raw
        if adapter is None:  # refused at build unless the endpoint declares a Response
            raise TypeError(f"{step.call!r} returned {type(raw)!r} and declares no model")
        status = sub_response.status_code or status_code or 200
        content = adapter.dump_json(
            adapter.validate_python(raw, from_attributes=True), by_alias=True
        )
        response = Response(content, status_code=status, media_type="application/json")
        if not is_body_allowed_for_status_code(status):
            response.body = b""
        response.headers.raw.extend(sub_response.headers.raw)
        return response

    return handle


def check_planned_routes(routes: Iterable[BaseRoute]) -> None:
    """Refuse an app where a planned route was included with dependencies of its own: they are
    not in the endpoint's signature, so the plan would not run them."""
    for context in iter_route_contexts(list(routes)):
        route = context.original_route
        if not isinstance(route, PlannedRoute) or not route.planned:
            continue
        if list(context.dependencies) != list(route.dependencies):
            raise RuntimeError(f"{context.path}: included with dependencies; not planned")
