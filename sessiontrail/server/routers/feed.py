"""`/v1/events`: the change feed, every event the caller may see in log order, as
pages or live as Server-Sent Events (resumable by Last-Event-ID)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from ...domain.errors import InvalidInput
from ...projections.audit import AuditPage
from ...trail import SessionTrail
from ..access import BIGINT, Trail, Who, scope

router = APIRouter(tags=["feed"])
KEEP_ALIVE_SECONDS = 15
"""How long an idle stream goes before a comment line keeps proxies from
closing it."""
RECHECK = (0.002, 0.1)
"""Seconds between a stream's looks at read models still applying committed
events: from the first to the second, doubling."""


@router.get("/v1/events")
def events(
    who: Who,
    trail: Trail,
    after: Annotated[int, Query(ge=0, le=BIGINT)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """Every event the caller may see after log position `after`, in log order;
    pass `next_after` back (or use /v1/events/stream)."""
    return trail.audit.entries(user_id=scope(who), after=after, limit=limit)


@router.get("/v1/events/stream")
def stream(
    request: Request,
    who: Who,
    trail: Trail,
    after: Annotated[int, Query(ge=0, le=BIGINT)] = 0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """The same as Server-Sent Events, live: each event's `id` is its log
    position (an opaque token), so a reconnect with Last-Event-ID resumes exactly
    after it."""
    start = after
    if last_event_id and last_event_id.isascii() and last_event_id.isdigit():
        if len(last_event_id) > len(str(BIGINT)) or int(last_event_id) > BIGINT:
            raise InvalidInput(f"Last-Event-ID: at most {BIGINT}")
        start = int(last_event_id)
    poll_interval: float = request.app.state.poll_interval
    feed = _feed(trail, scope(who), start, poll_interval)
    return StreamingResponse(feed, media_type="text/event-stream")


def _feed(
    trail: SessionTrail, user_id: str | None, after: int, poll_interval: float
) -> Iterator[str]:
    """SSE lines for every visible event after `after`, then new ones as they come:
    woken by the log's notifications (PostgreSQL), else every `poll_interval`;
    while the read models have yet to apply committed events, it looks again
    within milliseconds. A comment line now and then keeps proxies from closing an
    idle stream."""
    position, idle, pause = after, 0.0, RECHECK[0]
    wakeups = trail.store.wakeups
    while True:
        ticket = wakeups.ticket()
        # Asked before the read: an event the read models apply after it is then
        # seen by a look soon, and one committed after it wakes the wait.
        applying = trail.projections.behind()
        page = trail.audit.entries(user_id=user_id, after=position, limit=500)
        for entry in page.items:
            position = entry.position
            data = entry.model_dump_json()
            yield f"id: {position}\nevent: {entry.event}\ndata: {data}\n\n"
        if page.items:
            idle, pause = 0.0, RECHECK[0]
            continue
        began = time.monotonic()
        if applying:
            time.sleep(pause)
            pause = min(2 * pause, RECHECK[1])
        else:
            pause = RECHECK[0]
            wakeups.wait(ticket, poll_interval)
        idle += time.monotonic() - began
        if idle >= KEEP_ALIVE_SECONDS:
            idle = 0.0
            yield ": keep-alive\n\n"
