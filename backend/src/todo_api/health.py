"""Public probes: liveness never touches the database, readiness does (and, on SQLite, its disk)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from todo_api.db import ping
from todo_api.dependencies import reason_of
from todo_api.errors import DatabaseUnavailable, ServiceUnavailable
from todo_api.routing import StrictRoute
from todo_api.state import State

router = APIRouter(route_class=StrictRoute)


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]


@router.get("/healthz", operation_id="getHealth")
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", operation_id="getReadiness")
def readyz(state: State) -> Readiness:
    database = state.database
    try:
        ping(database.engine)
    except SQLAlchemyError as exc:
        # With no traffic, the probe is what notices an outage and its end.
        database.status.failed(reason_of(exc))
        raise DatabaseUnavailable() from None
    if not database.status.up:
        database.status.recovered()
    if database.disk_problem() is not None:
        # Reads would still be served, but a write would be refused: not ready.
        raise ServiceUnavailable("The database's disk cannot take writes")
    jwks = state.jwks
    if jwks is not None and not jwks.ready:
        # Without one key, no JWKS token can be verified: say why, so operators can act.
        raise ServiceUnavailable(jwks.status())
    return Readiness(status="ready")
