"""Starlette's CORS middleware, with a refused preflight answered as problem+json."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from todo_api.errors import CorsPreflightRefused, problem_response

# What the plain-text refusal carried that a problem+json body replaces.
_BODY_HEADERS = frozenset({"content-type", "content-length"})


class ProblemCORSMiddleware(CORSMiddleware):
    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return response
        # Starlette says "Disallowed CORS origin, method" as text/plain; keep its words and its
        # headers (never an Access-Control-Allow-Origin for a refused origin).
        problem = problem_response(CorsPreflightRefused(bytes(response.body).decode()))
        for name, value in response.headers.items():
            if name not in _BODY_HEADERS:
                problem.headers[name] = value
        return problem
