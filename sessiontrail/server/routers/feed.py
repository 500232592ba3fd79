"""`/v1/events`: the change feed, every event the caller may see in log order, as
pages or live as Server-Sent Events (resumable by Last-Event-ID)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request

from ...domain.errors import InvalidInput
from ...infrastructure.wakeups import Wakeups
from ...projections.audit import AuditPage
from ...trail import SessionTrail
from ..access import MAX_QUERY_INT, Trail, Who, scope
from ..query import DIGITS
from ..streams import FeedResponse

router = APIRouter(tags=["feed"])
KEEP_ALIVE_SECONDS = 15
"""How long an idle stream goes before a comment line keeps proxies from
closing it."""
ENDED_CHECK = 0.1
"""Seconds at most between a waiting stream's looks at whether it should stop."""
RECHECK = (0.002, 0.1)
"""Seconds between a stream's looks at read models still applying committed
events: from the first to the second, doubling."""


@router.get("/v1/events")
def events(
    who: Who,
    trail: Trail,
    after: Annotated[int, Query(ge=0, le=MAX_QUERY_INT), DIGITS] = 0,
    limit: Annotated[int, Query(ge=1, le=1000), DIGITS] = 100,
    session_id: Annotated[str | None, Query(min_length=1)] = None,
) -> AuditPage:
    """Every event the caller may see after log position `after`, in log order
    (only of one session with `session_id`: a purged session's purge record
    too); pass `next_after` back (or use /v1/events/stream)."""
    return trail.audit.entries(
        user_id=scope(who), session_id=session_id, after=after, limit=limit
    )


@router.get(
    "/v1/events/stream",
    responses={
        429: {"description": "As many live feeds as one caller may hold are open."},
        503: {"description": "As many live feeds as the server takes are open."},
    },
)
def stream(
    request: Request,
    who: Who,
    trail: Trail,
    after: Annotated[int, Query(ge=0, le=MAX_QUERY_INT), DIGITS] = 0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> FeedResponse:
    """The same as Server-Sent Events, live: each event's `id` is its log
    position (an opaque token), so a reconnect with Last-Event-ID resumes exactly
    after it. At most `max_streams` feeds are open at once (503 with
    Retry-After past it), at most `max_streams_per_caller` of one user or admin
    (429 with Retry-After past it)."""
    start = after
    if last_event_id:  # browsers send none (or an empty one) before any event
        if not (last_event_id.isascii() and last_event_id.isdigit()):
            raise InvalidInput(
                "Last-Event-ID: not a position this feed sent (an event's id: digits)"
            )
        if (
            len(last_event_id) > len(str(MAX_QUERY_INT))
            or int(last_event_id) > MAX_QUERY_INT
        ):
            raise InvalidInput(f"Last-Event-ID: at most {MAX_QUERY_INT}")
        start = int(last_event_id)
    poll_interval: float = request.app.state.poll_interval
    server_stopping: threading.Event = request.app.state.stopping
    gone = threading.Event()

    def ended(seconds: float) -> bool:
        return gone.wait(seconds) or server_stopping.is_set()

    feed = _feed(trail, scope(who), start, poll_interval, ended)
    return FeedResponse(feed, gone, request.app.state.feeds, who)


def _feed(
    trail: SessionTrail,
    user_id: str | None,
    after: int,
    poll_interval: float,
    ended: Callable[[float], bool],
) -> Iterator[str]:
    """SSE lines for every visible event after `after`, then new ones as they come:
    woken by the log's notifications (PostgreSQL), else every `poll_interval`;
    while the read models have yet to apply committed events, it looks again
    within milliseconds. A comment line now and then keeps proxies from closing an
    idle stream. It stops at a wait when `ended(seconds)` says so."""
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
            if ended(pause):
                return
            pause = min(2 * pause, RECHECK[1])
        else:
            pause = RECHECK[0]
            if _woken_or_ended(wakeups, ticket, poll_interval, ended):
                return
        idle += time.monotonic() - began
        if idle >= KEEP_ALIVE_SECONDS:
            idle = 0.0
            yield ": keep-alive\n\n"


def _woken_or_ended(
    wakeups: Wakeups, ticket: int, seconds: float, ended: Callable[[float], bool]
) -> bool:
    """Wait up to `seconds` for a notification after `ticket`, looking at `ended`
    every ENDED_CHECK seconds; True if the stream should stop."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or wakeups.wait(ticket, min(ENDED_CHECK, left)):
            return ended(0)
        if ended(0):
            return True
