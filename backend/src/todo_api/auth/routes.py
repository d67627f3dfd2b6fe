"""`/api/me`: what the backend understood from the caller's token."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from todo_api.auth.identity import CurrentUser
from todo_api.routing import StrictRoute

router = APIRouter(prefix="/api", route_class=StrictRoute)


class Me(BaseModel):
    user_id: str
    email: str | None
    email_verified: bool | None
    name: str | None
    expires_at: datetime


@router.get("/me", operation_id="getCurrentUser")
async def get_me(identity: CurrentUser) -> Me:
    return Me(
        user_id=identity.user_id,
        email=identity.email,
        email_verified=identity.email_verified,
        name=identity.name,
        expires_at=identity.expires_at,
    )
