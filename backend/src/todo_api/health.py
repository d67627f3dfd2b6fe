"""Public probes: liveness never touches the database, readiness does."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from todo_api.db import ping
from todo_api.errors import DatabaseUnavailable, ServiceUnavailable
from todo_api.state import State

router = APIRouter()


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]


@router.get("/healthz", operation_id="getHealth")
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", operation_id="getReadiness")
def readyz(state: State) -> Readiness:
    try:
        ping(state.database.engine)
    except SQLAlchemyError:
        raise DatabaseUnavailable() from None
    jwks = state.jwks
    if jwks is not None and not jwks.ready:
        # Without one key, no JWKS token can be verified: say why, so operators can act.
        raise ServiceUnavailable(jwks.status())
    return Readiness(status="ready")
