"""`/v1/events`: the change feed, every event the caller may see in log order, as
pages or live as Server-Sent Events (resumable by Last-Event-ID)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated

import anyio
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
    position, so a reconnect with Last-Event-ID resumes exactly after it."""
    start = after
    if last_event_id and last_event_id.isascii() and last_event_id.isdigit():
        if len(last_event_id) > len(str(BIGINT)) or int(last_event_id) > BIGINT:
            raise InvalidInput(f"Last-Event-ID: at most {BIGINT}")
        start = int(last_event_id)
    poll_interval: float = request.app.state.poll_interval
    server_stopping: threading.Event = request.app.state.stopping
    gone = threading.Event()

    def ended(seconds: float) -> bool:
        return gone.wait(seconds) or server_stopping.is_set()

    feed = _feed(trail, scope(who), start, poll_interval, ended)
    return StreamingResponse(_until_gone(feed, gone), media_type="text/event-stream")


async def _until_gone(
    lines: Iterator[str], gone: threading.Event
) -> AsyncIterator[str]:
    """The feed's lines, each read in a worker thread. When the response ends (the
    client left, or the server cancelled it), `gone` ends the feed's thread at
    its next wait, not at its next keep-alive, so nothing holds the server."""
    try:
        while True:
            line = await anyio.to_thread.run_sync(
                next, lines, None, abandon_on_cancel=True
            )
            if line is None:
                return
            yield line
    finally:
        gone.set()


def _feed(
    trail: SessionTrail,
    user_id: str | None,
    after: int,
    poll_interval: float,
    ended: Callable[[float], bool],
) -> Iterator[str]:
    """SSE lines for every visible event after `after`, then new ones as they come;
    a comment line now and then keeps proxies from closing an idle stream. Between
    polls it waits with `ended(seconds)`, and stops when that says so."""
    position, idle = after, 0.0
    while True:
        page = trail.audit.entries(user_id=user_id, after=position, limit=500)
        for entry in page.items:
            position = entry.position
            data = entry.model_dump_json()
            yield f"id: {position}\nevent: {entry.event}\ndata: {data}\n\n"
        if page.items:
            idle = 0.0
            continue
        if ended(poll_interval):
            return
        idle += poll_interval
        if idle >= KEEP_ALIVE_SECONDS:
            idle = 0.0
            yield ": keep-alive\n\n"
