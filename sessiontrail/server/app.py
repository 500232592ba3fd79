"""The HTTP API (`sessiontrail serve`): the public API over REST, per-user tokens,
ETags for people's edits, idempotent retries and a live change feed.

Endpoints are plain functions (FastAPI runs them in its thread pool) calling one
SessionTrail; every request names its caller by a bearer token, and a user's
request sees only that user's sessions: another user's session is a 404, exactly
like a missing one.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from ..domain.errors import (
    ConcurrencyConflict,
    InvalidInput,
    SessionNotFound,
    StorageUnavailable,
)
from ..domain.session import Session
from ..domain.values import HistoryEntry, Message, MessagePage
from ..erasure import ErasureReport
from ..projections.audit import AuditPage
from ..trail import SessionTrail
from .access import (
    BIGINT,
    Conflict,
    Forbidden,
    SessionOut,
    Unauthorized,
    Who,
    actor_of,
    owned_session,
    scope,
    tagged,
)
from .auth import Caller, Tokens
from .limits import BodyLimit
from .session_parts import add_session_parts

logger = logging.getLogger("sessiontrail.http")

IDEMPOTENCY = uuid.UUID("5b0c3f0e-8a7e-4c55-9d2a-7f3f3b1d2c11")
"""Namespace of the ids derived from Idempotency-Key headers."""
DEFAULT_MAX_BODY = 1_000_000


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    session_id: str | None = Field(None, min_length=1, max_length=256)
    title: str = ""
    model: str = ""
    metadata: dict[str, JsonValue] = Field(default_factory=dict)


class SessionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = None
    pinned: bool | None = None
    metadata: dict[str, JsonValue] | None = None


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: list[dict[str, JsonValue]] | None = None
    tool_call_id: str | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)


class Appended(BaseModel):
    message: Message
    version: int


def create_app(
    trail: SessionTrail,
    tokens: Tokens,
    *,
    public_docs: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    poll_interval: float = 0.25,
) -> FastAPI:
    """The API over `trail`; `public_docs` serves /docs and /openapi.json without a
    token; bodies over `max_body_bytes` get 413; the change feed polls the log
    every `poll_interval` seconds."""
    app = FastAPI(
        title="sessiontrail",
        version="1",
        docs_url="/docs" if public_docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if public_docs else None,
    )
    _errors(app)
    _limits_and_logs(app, max_body_bytes)
    add_session_parts(app, trail)

    app.state.tokens = tokens

    def owned(who: Caller, session_id: str) -> Session:
        return owned_session(trail, who, session_id)

    @app.get("/health", tags=["service"])
    def health() -> dict[str, str]:
        """Liveness and storage reachability; no token needed."""
        trail.store.head()
        return {"status": "ok"}

    @app.post("/v1/sessions", status_code=201, tags=["sessions"])
    def create_session(
        body: SessionIn,
        who: Who,
        response: Response,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> SessionOut:
        """Start a session (an id is generated when none is given); with an
        Idempotency-Key, a retry returns the session the first request made."""
        user = who.user_id
        session_id = (
            body.session_id or _derived(who, idempotency_key) or uuid.uuid4().hex
        )
        existing = trail.sessions.try_load(session_id, user_id=user)
        if existing is not None and idempotency_key and not body.session_id:
            first = trail.sessions.at(session_id, version=1, user_id=user)
            assert first is not None, "a stored session has a first version"
            if (first.title, first.model, first.metadata) != (
                body.title,
                body.model,
                body.metadata,
            ):
                raise _reused(idempotency_key)
            response.status_code = 200
            return tagged(response, existing)
        session = Session(
            session_id=session_id,
            user_id=user,
            title=body.title,
            model=body.model,
            metadata=body.metadata,
            actor=actor_of(who),
        )
        try:
            trail.sessions.save(session)
        except ConcurrencyConflict:
            raise Conflict(f"session id {session_id!r} is already in use") from None
        return tagged(response, session)

    @app.get("/v1/sessions", tags=["sessions"])
    def list_sessions(
        who: Who,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: str | None = None,
        include_deleted: bool = False,
        user_id: str | None = None,
    ) -> dict[str, Any]:
        """A page of sessions, newest first; pass `next_cursor` back for more.
        Admins list everyone's (or one user's with `user_id`)."""
        scope = user_id if who.admin else who.user_id
        page = trail.sessions.list(
            user_id=scope, limit=limit, cursor=cursor, include_deleted=include_deleted
        )
        return page.model_dump(mode="json")

    @app.get("/v1/sessions/{session_id}", tags=["sessions"])
    def get_session(session_id: str, who: Who, response: Response) -> SessionOut:
        """The session; its version is the ETag."""
        return tagged(response, owned(who, session_id))

    @app.patch("/v1/sessions/{session_id}", tags=["sessions"])
    def patch_session(
        session_id: str,
        body: SessionPatch,
        who: Who,
        response: Response,
        if_match: Annotated[str | None, Header()] = None,
    ) -> Any:
        """Edit title, pin and metadata keys (null removes a key), on the newest
        stored state: keys others edited meanwhile stay. With If-Match not naming
        the current version (checked again as the edit is stored): 412 and the
        current session, nothing written."""
        expected = None
        if if_match is not None:
            session = owned(who, session_id)
            if not _matches(if_match, session.version):
                return _precondition_failed(session)
            expected = session.version
        try:
            edited = trail.sessions.edit(
                session_id,
                title=body.title,
                pinned=body.pinned,
                metadata=body.metadata,
                user_id=scope(who),
                actor=actor_of(who),
                if_version=expected,
            )
        except ConcurrencyConflict:
            if expected is None:
                raise
            current = trail.sessions.load_merged(session_id, user_id=scope(who))
            if current is None:
                raise SessionNotFound(f"no session {session_id!r}") from None
            return _precondition_failed(current)
        return tagged(response, edited)

    @app.delete("/v1/sessions/{session_id}", status_code=204, tags=["sessions"])
    def delete_session(session_id: str, who: Who) -> None:
        """Soft delete (a SessionDeleted event); restore undoes it."""
        owned(who, session_id)
        trail.sessions.delete(session_id, user_id=scope(who), actor=actor_of(who))

    @app.post("/v1/sessions/{session_id}/restore", tags=["sessions"])
    def restore_session(session_id: str, who: Who, response: Response) -> SessionOut:
        """Undo a soft delete."""
        if not trail.sessions.restore(
            session_id, user_id=scope(who), actor=actor_of(who)
        ):
            raise SessionNotFound(f"no deleted session {session_id!r}")
        return tagged(response, owned(who, session_id))

    @app.post("/v1/sessions/{session_id}/messages", status_code=201, tags=["messages"])
    def append_message(
        session_id: str,
        body: MessageIn,
        who: Who,
        response: Response,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> Appended:
        """Append a message (never needs If-Match: appends merge). With an
        Idempotency-Key the message id derives from it, so a retry returns the
        first result and stores nothing twice."""
        session = owned(who, session_id)
        message_id = _derived(who, idempotency_key, session_id)
        fields = body.model_dump(exclude_none=True)
        for message in session.messages if message_id is not None else []:
            if message.id == message_id:
                if not _same_message(fields, message):
                    raise _reused(idempotency_key)
                response.status_code = 200
                response.headers["ETag"] = f'"{session.version}"'
                return Appended(message=message, version=session.version)
        message = session.append_message(**fields, id=message_id, actor=actor_of(who))
        trail.sessions.save(session)
        response.headers["ETag"] = f'"{session.version}"'
        return Appended(message=message, version=session.version)

    @app.get("/v1/sessions/{session_id}/messages", tags=["messages"])
    def messages(
        session_id: str,
        who: Who,
        last_n: Annotated[int | None, Query(ge=0, le=BIGINT)] = None,
        before: Annotated[int | None, Query(ge=1, le=BIGINT)] = None,
        limit: Annotated[int | None, Query(ge=0, le=BIGINT)] = None,
    ) -> MessagePage:
        """The last `last_n` messages, or `limit` before position `before`."""
        return trail.sessions.messages(
            session_id, last_n=last_n, before=before, limit=limit, user_id=scope(who)
        )

    @app.get("/v1/sessions/{session_id}/history", tags=["sessions"])
    def history(
        session_id: str,
        who: Who,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[HistoryEntry]:
        """The audit timeline of one session, filtered by actor and [since, until)."""
        entries = trail.sessions.history(session_id, user_id=scope(who))
        return [
            entry
            for entry in entries
            if (actor is None or entry.actor == actor)
            and (since is None or entry.timestamp >= since)
            and (until is None or entry.timestamp < until)
        ]

    @app.get("/v1/events", tags=["feed"])
    def events(
        who: Who,
        after: Annotated[int, Query(ge=0, le=BIGINT)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> AuditPage:
        """Every event the caller may see after log position `after`, in log order;
        pass `next_after` back (or use /v1/events/stream)."""
        return trail.audit.entries(user_id=scope(who), after=after, limit=limit)

    @app.get("/v1/events/stream", tags=["feed"])
    def stream(
        who: Who,
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
        feed = _feed(trail, scope(who), start, poll_interval)
        return StreamingResponse(feed, media_type="text/event-stream")

    @app.get("/v1/projections", tags=["admin"])
    def projections(who: Who) -> list[dict[str, Any]]:
        """Read-model status (admin)."""
        _admin(who)
        return [status.model_dump(mode="json") for status in trail.projections.status()]

    @app.post("/v1/users/{user_id}/erase", tags=["admin"])
    def erase(user_id: str, who: Who) -> ErasureReport:
        """Crypto-shred everything the user wrote (admin): their content reads
        "[erased]" everywhere from now on, this server's caches included; the
        erasure is recorded with the admin as its actor. Irreversible."""
        _admin(who)
        return trail.erase_user(user_id, actor=actor_of(who))

    @app.post("/v1/verify", tags=["admin"])
    def verify(who: Who) -> dict[str, Any]:
        """Re-walk every hash chain (admin)."""
        _admin(who)
        report = trail.verify()
        return {
            "ok": report.ok,
            "streams": report.streams,
            "events": report.events,
            "problems": [str(problem.error()) for problem in report.problems],
        }

    return app


def _feed(
    trail: SessionTrail, user_id: str | None, after: int, poll_interval: float
) -> Iterator[str]:
    """SSE lines for every visible event after `after`, then new ones as they come;
    a comment line now and then keeps proxies from closing an idle stream."""
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
        time.sleep(poll_interval)
        idle += poll_interval
        if idle >= 15:
            idle = 0.0
            yield ": keep-alive\n\n"


def _matches(if_match: str, version: int) -> bool:
    """Whether an If-Match header names this version: `*` (any current session,
    RFC 9110) or a list of entity tags, one of them this version's."""
    tags = [tag.strip() for tag in if_match.split(",")]
    return "*" in tags or any(
        tag.removeprefix("W/").strip('"') == str(version) for tag in tags
    )


def _admin(who: Caller) -> None:
    if not who.admin:
        raise Forbidden("an admin token is required")


def _precondition_failed(current: Session) -> JSONResponse:
    """412 with the current session and its ETag, for the client to show and retry."""
    return JSONResponse(
        SessionOut.of(current).model_dump(mode="json"),
        status_code=412,
        headers={"ETag": f'"{current.version}"'},
    )


def _derived(who: Caller, key: str | None, *scope: str) -> str | None:
    """An id that is the same for the same caller, key and target: what makes a
    retried POST find its first result."""
    if not key:
        return None
    if len(key) > 200:
        raise InvalidInput("Idempotency-Key: at most 200 characters")
    return uuid.uuid5(IDEMPOTENCY, json.dumps([who.user_id, key, *scope])).hex


def _same_message(fields: dict[str, Any], message: Message) -> bool:
    """Whether a retried append's body would make the message stored first."""
    try:
        retried = Message(**fields, id=message.id, created_at=message.created_at)
    except ValidationError:
        return False
    return retried == message


def _reused(key: str | None) -> InvalidInput:
    """A retry whose body is not the first request's: the key was reused."""
    return InvalidInput(
        f"Idempotency-Key: {key!r} was already used for a different request; "
        "use a new key for a new request"
    )


def _problem(status: int, detail: str, **headers: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


STATUS: dict[type[Exception], int] = {
    SessionNotFound: 404,
    InvalidInput: 422,
    Forbidden: 403,
    Conflict: 409,
    ConcurrencyConflict: 409,  # still conflicting after the merge retries
}
"""Errors whose message is the whole answer, and their status."""


def _errors(app: FastAPI) -> None:
    """The error model as HTTP: one JSON body with `detail` naming what is wrong."""

    @app.exception_handler(Unauthorized)
    def unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
        return _problem(
            401, "a valid bearer token is required", **{"WWW-Authenticate": "Bearer"}
        )

    def plain(request: Request, exc: Exception) -> JSONResponse:
        status = next(STATUS[kind] for kind in type(exc).__mro__ if kind in STATUS)
        return _problem(status, str(exc))

    for error in STATUS:
        app.add_exception_handler(error, plain)

    @app.exception_handler(StorageUnavailable)
    def down(request: Request, exc: StorageUnavailable) -> JSONResponse:
        logger.warning("storage unavailable: %s", exc)
        return _problem(503, "storage unavailable; retry", **{"Retry-After": "1"})

    @app.exception_handler(Exception)
    def broken(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unexpected error", exc_info=exc)
        return _problem(500, "internal error; it is logged on the server")

    @app.exception_handler(RequestValidationError)
    def unprocessable(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            ".".join(str(part) for part in error["loc"]) + ": " + error["msg"]
            for error in exc.errors()
        ]
        return _problem(422, "; ".join(problems))


def _limits_and_logs(app: FastAPI, max_body_bytes: int) -> None:
    """413 for bodies over the limit, however they are sent; one structured
    access-log line per request, without message content."""
    app.add_middleware(BodyLimit, limit=max_body_bytes)

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
                    "path": getattr(route, "path", request.url.path),
                    "status": response.status_code,
                    "ms": round(1000 * (time.perf_counter() - started), 2),
                }
            )
        )
        return response
