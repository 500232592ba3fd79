"""Who a request is from, and what it may see: the pieces every route shares."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, cast

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, JsonValue

from ..domain.errors import SessionNotFound
from ..domain.session import Session
from ..domain.validation import MAX_ARGUMENT_INT
from ..domain.values import PendingQuestion
from ..trail import SessionTrail
from .auth import Caller, Tokens
from .errors import Unauthorized

MAX_QUERY_INT = MAX_ARGUMENT_INT
"""The largest integer a query parameter or header may hold (2**53 - 1): the
largest count, position or version the public API takes, so a value the route
lets in is one the store can take too (a larger one was let in and then failed
in the read, after a stream had answered 200). Beyond, 422 naming the
parameter, and nothing runs."""


class SessionOut(BaseModel):
    """A session as the API shows it (no messages: page through those)."""

    session_id: str
    user_id: str | None
    title: str
    pinned: bool
    model: str
    metadata: dict[str, JsonValue]
    message_count: int
    version: int
    deleted: bool
    pending_question: PendingQuestion | None
    created_at: datetime
    updated_at: datetime
    forked_from: str | None
    """The session this one was forked from (None: not a fork)."""
    forked_version: int | None
    """The version of `forked_from` the fork copied."""

    @classmethod
    def of(cls, session: Session) -> SessionOut:
        return cls(
            **session.summary(with_preview=False).model_dump(exclude={"preview"}),
            metadata=session.metadata,
            pending_question=session.pending_question,
        )


BEARER = HTTPBearer(auto_error=False, description="A token from `sessiontrail token`.")


def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Caller:
    """The request's caller by its bearer token; 401 without a known one."""
    tokens: Tokens = request.app.state.tokens
    found = None if credentials is None else tokens.caller(credentials.credentials)
    if found is None:
        raise Unauthorized
    return found


Who = Annotated[Caller, Depends(caller)]


def trail_of(request: Request) -> SessionTrail:
    """The trail the app serves (`create_app` puts it in the app's state)."""
    return cast(SessionTrail, request.app.state.trail)


Trail = Annotated[SessionTrail, Depends(trail_of)]


def owned_session(trail: SessionTrail, who: Caller, session_id: str) -> Session:
    """The caller's live session, else 404 (another user's looks missing)."""
    session = trail.sessions.try_load(session_id, user_id=scope(who))
    if session is None:
        raise SessionNotFound(f"no session {session_id!r}")
    return session


def owned_stored_session(trail: SessionTrail, who: Caller, session_id: str) -> Session:
    """The caller's session as stored now, live or soft-deleted (a purge may name
    either), else 404; read from the log, never from a cache."""
    session = trail.store.load(trail.store.ids.stream(session_id))
    user_id = scope(who)
    if session is None or (user_id is not None and session.user_id != user_id):
        raise SessionNotFound(f"no session {session_id!r}")
    return session


def etag(session: Session) -> str:
    """The session's entity tag: its version and a short tag of its last stored
    record's chain value (`"3-5f0e1a2b"`). A purged id used again counts its
    versions from 1 again; the chain value tells the new session from the purged
    one, so a client's tag of the purged session never matches the new one.
    A session whose last record predates the chain has the version alone."""
    head = session.stored_head
    return (
        f'"{session.version}"'
        if head is None
        else f'"{session.version}-{head.hex()[:8]}"'
    )


def tagged(response: Response, session: Session) -> SessionOut:
    """The session's view, with its ETag."""
    response.headers["ETag"] = etag(session)
    return SessionOut.of(session)


def scope(who: Caller) -> str | None:
    """The user whose sessions a request sees (None: an admin sees all)."""
    return None if who.admin else who.user_id


def actor_of(who: Caller) -> str:
    """The actor a caller's writes are recorded under (see auth.py)."""
    return who.actor
