"""`/v1/me`: who the bearer token names (the viewer shows it after sign-in)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from ..access import Who

router = APIRouter(tags=["me"])


class Me(BaseModel):
    user_id: str | None
    admin: bool
    actor: str


@router.get("/v1/me")
def me(who: Who) -> Me:
    """The caller: a user (their sessions only) or an admin, and the actor its
    writes are recorded under."""
    return Me(user_id=who.user_id, admin=who.admin, actor=who.actor)
