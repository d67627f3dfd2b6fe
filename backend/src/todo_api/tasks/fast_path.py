"""A route class that runs a well-formed request without FastAPI's generic dependency solver.

FastAPI solves a route's dependencies for every request by walking the dependency tree and, for
each node, looking up and validating four kinds of parameters (path, query, header, cookie): with
the owner rule and the service that is 16 passes a request, most over empty lists, and a
quarter of the event loop's time (research P14, P20). `FastPathRoute` walks the same tree once,
when the route is built, into a plan: which parameter comes from where, validated by the same
pydantic adapter FastAPI would use, and the dependencies to call, in FastAPI's order; the reply
is built as FastAPI builds it.

The plan only ever answers a request it can answer exactly as FastAPI would. Anything else goes
to FastAPI's own handler, untouched: a required parameter missing or any parameter invalid (so
every 422 and its error list come from FastAPI), dependency overrides or telemetry in use, and
every route whose shape the plan does not cover: request bodies (they paid too little, research
P20), cookies, yield dependencies, sync functions, security scopes, sequences or models as
parameters, streaming replies.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, cast

from fastapi import params
from fastapi._compat import ModelField, field_annotation_is_sequence
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import _get_param_aliases, _get_param_model
from fastapi.exceptions import EndpointContext
from fastapi.routing import _effective_route_context_var, serialize_response
from fastapi.telemetry import get_telemetry_data
from fastapi.utils import is_body_allowed_for_status_code
from starlette.requests import Request
from starlette.responses import Response

from todo_api.routing import Handler, StrictRoute

# Defaults FastAPI would deepcopy per request; for these the copy is the value itself.
_IMMUTABLE = (str, int, float, bool, type(None))
_MISSING = object()


@dataclass(slots=True, frozen=True)
class _Param:
    name: str
    source: str  # "path", "query" or "header"
    key: str
    field: ModelField
    default: Any  # _MISSING when required


@dataclass(slots=True, frozen=True)
class _Step:
    """One dependant: its sub-dependencies first, then its own parameters, as FastAPI does."""

    call: Callable[..., Coroutine[Any, Any, Any]]
    name: str | None
    subs: tuple[_Step, ...]
    params: tuple[_Param, ...]
    request_name: str | None
    response_name: str | None


def _param(field: ModelField) -> _Param | None:
    info = field.field_info
    if not isinstance(info, params.Path | params.Query | params.Header):
        return None
    if _get_param_model(field) is not None or info.validate_default:
        return None
    if field_annotation_is_sequence(info.annotation):
        return None
    aliases = _get_param_aliases(field)
    if len(aliases) != 1:
        return None
    default = _MISSING
    if not info.is_required():
        default = field.default
        if not isinstance(default, _IMMUTABLE):
            return None
    return _Param(field.name, info.in_.value, aliases[0][1], field, default)


def _step(dependant: Dependant, seen: set[Any]) -> _Step | None:
    call = dependant.call
    unsupported = (
        dependant.cookie_params
        or dependant.body_params
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or dependant.own_oauth_scopes
        or dependant.concurrency is not None
        or not dependant.use_cache
        or call in seen  # a shared dependency would be solved once: not planned
    )
    if unsupported or call is None or not inspect.iscoroutinefunction(call):
        return None
    seen.add(call)
    subs: list[_Step] = []
    for sub in dependant.dependencies:
        step = _step(sub, seen)
        if step is None:
            return None
        subs.append(step)
    own: list[_Param] = []
    for field in (*dependant.path_params, *dependant.query_params, *dependant.header_params):
        param = _param(field)
        if param is None:
            return None
        own.append(param)
    return _Step(
        call=call,
        name=dependant.name,
        subs=tuple(subs),
        params=tuple(own),
        request_name=dependant.request_param_name,
        response_name=dependant.response_param_name,
    )


def _endpoint_context(call: Callable[..., Any]) -> EndpointContext:
    """What FastAPI's handler names in a ResponseValidationError, worked out as it does."""
    context: EndpointContext = {}
    try:
        if (source_file := inspect.getsourcefile(call)) is not None:
            context["file"] = source_file
        context["line"] = inspect.getsourcelines(call)[1]
        if (name := getattr(call, "__name__", None)) is not None:
            context["function"] = name
    except Exception:
        return {}
    return context


class FastPathRoute(StrictRoute):
    """`StrictRoute` with a planned path for well-formed requests; FastAPI's handler for the
    rest. Both run behind the request-shape checks of routing.py."""

    def unchecked_handler(self) -> Handler:
        fallback = super().unchecked_handler()
        # The route as included (prefix, router dependencies, overrides provider), exactly as
        # APIRoute.get_route_handler resolves it.
        route: Any = self
        context = _effective_route_context_var.get()
        if context is not None and context.original_route is self:
            route = context
        plan = _step(route.dependant, set())
        if (
            plan is None
            or route.body_field is not None
            or route.is_sse_stream
            or route.is_json_stream
            or route.response_model_include
            or route.response_model_exclude
        ):
            return fallback
        return _planned_handler(route, plan, fallback)


def _planned_handler(route: Any, plan: _Step, fallback: Handler) -> Handler:
    overrides_provider = route.dependency_overrides_provider
    status_code: int | None = route.status_code
    response_field: ModelField | None = route.response_field
    dump_json = response_field is not None and isinstance(route.response_class, DefaultPlaceholder)
    response_class = route.response_class
    if isinstance(response_class, DefaultPlaceholder):
        response_class = response_class.value
    by_alias: bool = route.response_model_by_alias
    exclude_unset: bool = route.response_model_exclude_unset
    exclude_defaults: bool = route.response_model_exclude_defaults
    exclude_none: bool = route.response_model_exclude_none
    endpoint_context = _endpoint_context(plan.call)
    path: str = route.dependant.path or ""

    def validated(
        sources: dict[str, Mapping[str, Any]], step: _Step, out: dict[int, dict[str, Any]]
    ) -> bool:
        for sub in step.subs:
            if not validated(sources, sub, out):
                return False
        values: dict[str, Any] = {}
        for param in step.params:
            raw = sources[param.source].get(param.key)
            if raw is None:
                if param.default is _MISSING:
                    return False
                values[param.name] = param.default
                continue
            value, errors = param.field.validate(raw, values)
            if errors:
                return False
            values[param.name] = value
        out[id(step)] = values
        return True

    async def solve(
        request: Request, step: _Step, values: dict[int, dict[str, Any]], response: Response
    ) -> Any:
        arguments = dict(values[id(step)])
        for sub in step.subs:
            solved = await solve(request, sub, values, response)
            if sub.name is not None:
                arguments[sub.name] = solved
        if step.request_name is not None:
            arguments[step.request_name] = request
        if step.response_name is not None:
            arguments[step.response_name] = response
        return await step.call(**arguments)

    async def handle(request: Request) -> Response:
        if (
            overrides_provider is not None and overrides_provider.dependency_overrides
        ) or get_telemetry_data() is not None:
            return await fallback(request)
        sources: dict[str, Mapping[str, Any]] = {
            "path": request.path_params,
            "query": request.query_params,
            "header": request.headers,
        }
        values: dict[int, dict[str, Any]] = {}
        if not validated(sources, plan, values):
            # FastAPI's own handler answers: the same 422 with the same error list.
            return await fallback(request)
        sub_response = Response()
        del sub_response.headers["content-length"]
        sub_response.status_code = None  # type: ignore[assignment]
        raw = await solve(request, plan, values, sub_response)
        if isinstance(raw, Response):
            return raw
        # Status and reply as FastAPI's handler builds them (`_build_response_args`, then
        # `serialize_response` of the declared type, then the sub-response's headers).
        arguments: dict[str, Any] = {"background": None}
        current = status_code if status_code else sub_response.status_code
        if current is not None:
            arguments["status_code"] = current
        if sub_response.status_code:
            arguments["status_code"] = sub_response.status_code
        mount = request.scope.get("root_path", "").rstrip("/")
        context: EndpointContext = {**endpoint_context, "path": f"{request.method} {mount}{path}"}
        content = await serialize_response(
            field=response_field,
            response_content=raw,
            by_alias=by_alias,
            exclude_unset=exclude_unset,
            exclude_defaults=exclude_defaults,
            exclude_none=exclude_none,
            is_coroutine=True,
            endpoint_ctx=context,
            dump_json=dump_json,
        )
        if dump_json:
            response = Response(content=content, media_type="application/json", **arguments)
        else:
            response = cast(type[Response], response_class)(content, **arguments)
        if not is_body_allowed_for_status_code(response.status_code):
            response.body = b""
        response.headers.raw.extend(sub_response.headers.raw)
        return response

    return handle
