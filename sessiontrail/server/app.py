"""The HTTP API (`sessiontrail serve`): the public API over REST, per-user tokens,
ETags for people's edits, idempotent retries and a live change feed.

`create_app` puts the trail and the tokens in the app's state and mounts the
routers (`routers/`); endpoints are plain functions (FastAPI runs them in its
thread pool) calling that one SessionTrail. Every request names its caller by a
bearer token, and a user's request sees only that user's sessions: another
user's session is a 404, exactly like a missing one (`access.py`). Errors become
statuses in one table (`errors.py`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable

from fastapi import Depends, FastAPI, Request, Response

from ..domain.errors import InvalidInput
from ..trail import SessionTrail
from .auth import Tokens
from .errors import add_error_handlers
from .limits import BodyLimit
from .query import known_query_only
from .routers import admin, feed, me, messages, session_parts, sessions
from .session_path import SessionIdPath
from .streams import DEFAULT_MAX_STREAMS, DEFAULT_MAX_STREAMS_PER_CALLER, FeedSlots
from .viewer import router as viewer

logger = logging.getLogger("sessiontrail.http")

DEFAULT_MAX_BODY = 1_000_000


def create_app(
    trail: SessionTrail,
    tokens: Tokens,
    *,
    public_docs: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    poll_interval: float = 0.25,
    max_streams: int = DEFAULT_MAX_STREAMS,
    max_streams_per_caller: int = DEFAULT_MAX_STREAMS_PER_CALLER,
) -> FastAPI:
    """The API over `trail`; `public_docs` serves /docs and /openapi.json without a
    token; bodies over `max_body_bytes` get 413; the change feed polls the log
    every `poll_interval` seconds, and at most `max_streams` live feeds are open
    at once (503 past it), at most `max_streams_per_caller` of one caller (a
    user, or an admin token's name; 429 past it)."""
    if max_streams < 0:
        raise InvalidInput(f"max_streams: must be >= 0, got {max_streams}")
    if max_streams_per_caller < 0:
        raise InvalidInput(
            f"max_streams_per_caller: must be >= 0, got {max_streams_per_caller}"
        )
    app = FastAPI(
        title="sessiontrail",
        version="1",
        docs_url="/docs" if public_docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if public_docs else None,
        dependencies=[Depends(known_query_only)],
    )
    add_error_handlers(app)
    _limits_and_logs(app, max_body_bytes)
    app.state.trail = trail
    app.state.tokens = tokens
    app.state.poll_interval = poll_interval
    app.state.feeds = FeedSlots(max_streams, max_streams_per_caller)
    app.state.stopping = threading.Event()  # set as the server stops: feeds end
    for part in (session_parts, admin, sessions, messages, feed, me, viewer):
        app.include_router(part.router)
    return app


def _limits_and_logs(app: FastAPI, max_body_bytes: int) -> None:
    """413 for bodies over the limit, however they are sent; one structured
    access-log line per request, without message content."""
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    app.add_middleware(SessionIdPath)

    @app.middleware("http")
    async def log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        logger.info(
            json.dumps(
                {
                    "method": request.method,
                    "path": getattr(route, "path_format", request.url.path),
                    "status": response.status_code,
                    "ms": round(1000 * (time.perf_counter() - started), 2),
                }
            )
        )
        return response
