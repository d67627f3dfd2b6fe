"""The application's typed state: what request handlers need, built once by `create_app`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.applications import Starlette

from todo_api.auth.keys import JwksCache
from todo_api.db import Database
from todo_api.tasks.service import Tasks

# The one attribute of Starlette's untyped `app.state` this application uses.
_ATTRIBUTE = "todo_api"


@dataclass(slots=True)
class AppState:
    database: Database
    # The issuer's cached public keys; None when only the shared secret verifies tokens.
    jwks: JwksCache | None
    tasks: Tasks


def attach(app: Starlette, state: AppState) -> None:
    setattr(app.state, _ATTRIBUTE, state)


def app_state(app: Starlette) -> AppState:
    state = getattr(app.state, _ATTRIBUTE, None)
    if not isinstance(state, AppState):
        raise RuntimeError("this application was not built by todo_api.main.create_app")
    return state


async def request_state(request: Request) -> AppState:
    return app_state(request.app)


State = Annotated[AppState, Depends(request_state)]
