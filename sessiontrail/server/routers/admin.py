"""Service and admin routes: liveness (no token), and, for admin tokens only,
read-model status, erasing a user and verifying the log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ...privacy.erasure import ErasureReport
from ..access import Trail, Who, actor_of
from ..auth import Caller
from ..errors import Forbidden

router = APIRouter()


@router.get("/health", tags=["service"])
def health(trail: Trail) -> dict[str, str]:
    """Liveness and storage reachability; no token needed."""
    trail.store.head()
    return {"status": "ok"}


@router.get("/v1/projections", tags=["admin"])
def projections(who: Who, trail: Trail) -> list[dict[str, Any]]:
    """Read-model status (admin)."""
    _admin(who)
    return [status.model_dump(mode="json") for status in trail.projections.status()]


@router.post("/v1/users/{user_id}/erase", tags=["admin"])
def erase(user_id: str, who: Who, trail: Trail) -> ErasureReport:
    """Crypto-shred everything the user wrote (admin): their content reads
    "[erased]" everywhere from now on, this server's caches included; the
    erasure is recorded with the admin as its actor. Irreversible."""
    _admin(who)
    return trail.erase_user(user_id, actor=actor_of(who))


@router.post("/v1/verify", tags=["admin"])
def verify(who: Who, trail: Trail) -> dict[str, Any]:
    """Re-walk every hash chain (admin)."""
    _admin(who)
    report = trail.verify()
    return {
        "ok": report.ok,
        "streams": report.streams,
        "events": report.events,
        "problems": [str(problem.error()) for problem in report.problems],
    }


def _admin(who: Caller) -> None:
    if not who.admin:
        raise Forbidden("an admin token is required")
