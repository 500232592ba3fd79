"""Service and admin routes: liveness (no token), and, for admin tokens only,
read-model status, erasing a user, verifying the log and retention policies."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ...domain.retention import Rule
from ...domain.values import HistoryEntry
from ...privacy.erasure import ErasureReport
from ...privacy.retention import MAX_BATCH, RetentionPolicyView, RetentionReport
from ..access import Trail, Who, actor_of
from ..auth import Caller
from ..errors import Forbidden
from ..query import DIGITS, QueryBool

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


@router.get("/v1/retention", tags=["admin"])
def retention_policy(who: Who, trail: Trail) -> RetentionPolicyView:
    """The retention rules in force, most specific first, and who set them (admin)."""
    _admin(who)
    return trail.retention.show()


@router.get("/v1/retention/history", tags=["admin"])
def retention_history(who: Who, trail: Trail) -> list[HistoryEntry]:
    """Every change of the retention policy: who, when, which rules (admin)."""
    _admin(who)
    return trail.retention.history()


@router.put("/v1/retention/rules", tags=["admin"])
def set_retention_rule(rule: Rule, who: Who, trail: Trail) -> RetentionPolicyView:
    """Set the rule of one scope (all sessions; `user_id`; or metadata `key` and
    `value`), replacing that scope's rule; `days` null: never expires (admin).
    Recorded with the admin as its actor."""
    _admin(who)
    return trail.retention.set(
        rule.days,
        action=rule.action,
        user_id=rule.user_id,
        key=rule.key,
        value=rule.value,
        actor=actor_of(who),
    )


@router.delete("/v1/retention/rules", tags=["admin"])
def unset_retention_rule(
    who: Who,
    trail: Trail,
    user_id: str | None = None,
    key: str | None = None,
    value: str | None = None,
) -> dict[str, bool]:
    """Remove the rule of one scope (no parameters: the global rule) (admin)."""
    _admin(who)
    removed = trail.retention.unset(
        user_id=user_id, key=key, value=value, actor=actor_of(who)
    )
    return {"removed": removed}


@router.post("/v1/retention/apply", tags=["admin"])
def apply_retention(
    who: Who,
    trail: Trail,
    dry_run: QueryBool = True,
    limit: Annotated[int, Query(ge=1, le=MAX_BATCH), DIGITS] = 1000,
) -> RetentionReport:
    """Expire (or with `dry_run`, the default, list) what the retention policy
    says has expired, at most `limit` sessions per request: `remaining` says
    whether to call again (admin)."""
    _admin(who)
    return trail.retention.apply(dry_run=dry_run, limit=limit, actor=actor_of(who))


def _admin(who: Caller) -> None:
    if not who.admin:
        raise Forbidden("an admin token is required")
