"""`/v1/sessions`: start, list, read, edit (ETags, 412), delete and restore a
session, and its audit timeline."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import JSONResponse
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictInt,
)

from ...domain.errors import ConcurrencyConflict, InvalidInput, SessionNotFound
from ...domain.limits import MAX_ID_CHARS, MAX_TITLE_CHARS
from ...domain.purge import PurgeReport
from ...domain.search import SearchHit, parse_meta
from ...domain.session import Session
from ...domain.values import HistoryEntry
from ...trail import SessionTrail
from ..access import (
    SessionOut,
    Trail,
    Who,
    actor_of,
    etag,
    owned_session,
    owned_stored_session,
    scope,
    tagged,
)
from ..auth import Caller
from ..errors import Conflict
from ..idempotency import derived_id, reused
from ..query import DIGITS, ISO_TIME, TRUE_OR_FALSE, QueryBool, QueryTime

router = APIRouter(tags=["sessions"])


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    session_id: str | None = Field(None, min_length=1, max_length=MAX_ID_CHARS)
    title: str = ""
    model: str = ""
    metadata: dict[str, JsonValue] = Field(default_factory=dict)


class SessionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = None
    pinned: StrictBool | None = None
    metadata: dict[str, JsonValue] | None = None


class ForkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at_version: StrictInt | None = Field(None, ge=1)
    at: Annotated[AwareDatetime, ISO_TIME] | None = None
    new_id: str | None = Field(None, min_length=1, max_length=MAX_ID_CHARS)


@router.post(
    "/v1/sessions",
    status_code=201,
    responses={
        200: {"model": SessionOut, "description": "Created before by this body."},
        409: {"description": "The id is in use, by another body or another user."},
    },
)
def create_session(
    body: SessionIn,
    who: Who,
    trail: Trail,
    response: Response,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> SessionOut:
    """Start a session (an id is generated when none is given, or derived from
    an Idempotency-Key). A retry, the same body again for that id, answers 200
    with the session; another body for an id in use is 409 naming what differs
    (422 with an Idempotency-Key: the key was reused), nothing written. The
    store decides which of two racing requests created it."""
    session_id = body.session_id or derived_id(who, idempotency_key) or uuid.uuid4().hex
    session = Session(
        session_id=session_id,
        user_id=who.user_id,
        title=body.title,
        model=body.model,
        metadata=body.metadata,
        actor=actor_of(who),
    )
    try:
        trail.sessions.create(session)
    except ConcurrencyConflict:
        response.status_code = 200
        return tagged(
            response, _created_before(trail, who, body, session_id, idempotency_key)
        )
    return tagged(response, session)


def _created_before(
    trail: SessionTrail,
    who: Caller,
    body: SessionIn,
    session_id: str,
    idempotency_key: str | None,
) -> Session:
    """The caller's stored session `session_id` if `body` is what created it;
    else Conflict naming what differs (InvalidInput if the id came with an
    Idempotency-Key: the key was reused)."""
    in_use = Conflict(f"session id {session_id!r} is already in use")
    stored = trail.sessions.try_load(session_id, user_id=who.user_id)
    if stored is None or stored.user_id != who.user_id:  # an admin sees anyone's
        raise in_use  # another user's, or deleted
    first = trail.sessions.at(session_id, version=1, user_id=who.user_id)
    if first is None or first.forked_from is not None:
        raise in_use  # purged meanwhile, or a fork: never made by this body
    differ = [
        name
        for name, was, sent in (
            ("title", first.title, body.title),
            ("model", first.model, body.model),
            ("metadata", first.metadata, body.metadata),
        )
        if was != sent
    ]
    if differ and idempotency_key:
        raise reused(idempotency_key)
    if differ:
        raise Conflict(
            f"session id {session_id!r} is already in use, created with another "
            f"{', '.join(differ)}; nothing was changed (PATCH edits a session)"
        )
    return stored


@router.get("/v1/sessions")
def list_sessions(
    who: Who,
    trail: Trail,
    limit: Annotated[int, Query(ge=1, le=500), DIGITS] = 50,
    cursor: str | None = None,
    include_deleted: QueryBool = False,
    user_id: str | None = None,
    search: str | None = None,
    model: str | None = None,
    pinned: Annotated[bool | None, TRUE_OR_FALSE] = None,
    since: QueryTime = None,
    until: QueryTime = None,
    meta: Annotated[list[str] | None, Query()] = None,
) -> dict[str, Any]:
    """A page of sessions, newest first; pass `next_cursor` back for more.
    Admins list everyone's (or one user's with `user_id`). Filters, all of
    which must hold: `search` (every word in the title or in one message),
    `model`, `pinned`, `since`/`until` (last updated, ISO 8601 with a zone),
    `meta=KEY=VALUE` (repeatable; VALUE as JSON if it is a JSON scalar)."""
    scope = user_id if who.admin else who.user_id
    page = trail.sessions.list(
        user_id=scope,
        limit=limit,
        cursor=cursor,
        include_deleted=include_deleted,
        text=search,
        model=model,
        pinned=pinned,
        metadata=parse_meta(meta or []),
        since=since,
        until=until,
    )
    return page.model_dump(mode="json")


@router.get("/v1/search")
def search_sessions(
    who: Who,
    trail: Trail,
    text: str,
    limit: Annotated[int, Query(ge=1, le=500), DIGITS] = 20,
    include_deleted: QueryBool = False,
    user_id: str | None = None,
) -> list[SearchHit]:
    """The sessions whose title or one message holds every word of `text`,
    best match first, with their matching message ids and a snippet."""
    scope = user_id if who.admin else who.user_id
    return trail.sessions.search(
        text, user_id=scope, limit=limit, include_deleted=include_deleted
    )


@router.post("/v1/sessions/{session_id:id}/fork", status_code=201)
def fork_session(
    session_id: str, body: ForkIn, who: Who, trail: Trail, response: Response
) -> SessionOut:
    """A new session equal to this one at `at_version` (or the moment `at`, or
    now); its first event, Forked, names the source and version. `new_id` in use
    is a 409 and nothing is written."""
    try:
        fork = trail.sessions.fork(
            session_id,
            at_version=body.at_version,
            at=body.at,
            new_id=body.new_id,
            user_id=scope(who),
            actor=actor_of(who),
        )
    except ConcurrencyConflict:
        raise Conflict(f"session id {body.new_id!r} is already in use") from None
    return tagged(response, fork)


@router.get("/v1/sessions/{session_id:id}")
def get_session(
    session_id: str, who: Who, trail: Trail, response: Response
) -> SessionOut:
    """The session; its ETag names this stored version of it."""
    return tagged(response, owned_session(trail, who, session_id))


@router.patch("/v1/sessions/{session_id:id}")
def patch_session(
    session_id: str,
    body: SessionPatch,
    who: Who,
    trail: Trail,
    response: Response,
    if_match: Annotated[list[str] | None, Header()] = None,
) -> Any:
    """Edit title, pin and metadata keys (null removes a key), on the newest
    stored state: keys others edited meanwhile stay. With If-Match not naming
    the current version (checked again as the edit is stored): 412 and the
    current session, nothing written."""

    def edit(expected: int | None) -> Any:
        edited = trail.sessions.edit(
            session_id,
            title=body.title,
            pinned=body.pinned,
            metadata=body.metadata,
            user_id=scope(who),
            actor=actor_of(who),
            if_version=expected,
        )
        return tagged(response, edited)

    return _conditional(trail, who, session_id, if_match, edit)


@router.delete(
    "/v1/sessions/{session_id:id}",
    status_code=204,
    responses={200: {"model": PurgeReport, "description": "Purged (purge=true)."}},
)
def delete_session(
    session_id: str,
    who: Who,
    trail: Trail,
    purge: QueryBool = False,
    reason: Annotated[str | None, Query(max_length=MAX_TITLE_CHARS)] = None,
    if_match: Annotated[list[str] | None, Header()] = None,
) -> Response:
    """Soft delete (a SessionDeleted event); restore undoes it. `purge=true`:
    delete it for good instead (its records, Q&A and read-model rows; a purge
    record with `reason` stays in the log) and answer 200 with what went. The
    owner's token or an admin's; another user's session is 404, like a missing one.
    With If-Match not naming the current version (checked again as the delete
    is stored): 412 and the current session, nothing deleted. A `reason`
    without `purge=true`, or `purge` or `reason` given twice, is 422: nothing
    is deleted."""
    if reason is not None and not purge:
        raise InvalidInput("reason: only a purge keeps a reason (add purge=true)")

    def delete(expected: int | None) -> Response:
        if purge:
            report = trail.sessions.purge(
                session_id,
                user_id=scope(who),
                actor=actor_of(who),
                reason=reason or "",
                if_version=expected,
            )
            return JSONResponse(report.model_dump(mode="json"))
        owned_session(trail, who, session_id)
        trail.sessions.delete(
            session_id, user_id=scope(who), actor=actor_of(who), if_version=expected
        )
        return Response(status_code=204)

    response: Response = _conditional(
        trail, who, session_id, if_match, delete, deleted_too=purge
    )
    return response


def _conditional(
    trail: SessionTrail,
    who: Caller,
    session_id: str,
    if_match: list[str] | None,
    write: Callable[[int | None], Any],
    *,
    deleted_too: bool = False,
) -> Any:
    """`write` given the version If-Match names (None without If-Match). If-Match
    naming another version: 412 with the current session, checked before and
    again as the write is stored (`if_version`); nothing is written then.
    `deleted_too`: the write may name a soft-deleted session (a purge)."""
    expected = None
    if if_match is not None:
        if deleted_too:
            session = owned_stored_session(trail, who, session_id)
        else:
            session = owned_session(trail, who, session_id)
        if not _matches(if_match, session):
            return _precondition_failed(session)
        expected = session.version
    try:
        return write(expected)
    except ConcurrencyConflict:
        if expected is None:
            raise
        if deleted_too:
            return _precondition_failed(owned_stored_session(trail, who, session_id))
        current = trail.sessions.load_merged(session_id, user_id=scope(who))
        if current is None:
            raise SessionNotFound(f"no session {session_id!r}") from None
        return _precondition_failed(current)


@router.post("/v1/sessions/{session_id:id}/restore")
def restore_session(
    session_id: str, who: Who, trail: Trail, response: Response
) -> SessionOut:
    """Undo a soft delete."""
    if not trail.sessions.restore(session_id, user_id=scope(who), actor=actor_of(who)):
        raise SessionNotFound(f"no deleted session {session_id!r}")
    return tagged(response, owned_session(trail, who, session_id))


@router.get("/v1/sessions/{session_id:id}/history")
def history(
    session_id: str,
    who: Who,
    trail: Trail,
    actor: str | None = None,
    since: QueryTime = None,
    until: QueryTime = None,
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


def _matches(if_match: list[str], session: Session) -> bool:
    """Whether the If-Match header names this session as stored now: `*` (any
    current session, RFC 9110) or a list of entity tags, one of them its ETag;
    several If-Match lines are one list, as for any list header (RFC 9110, 5.3).
    A weak tag (`W/"2-…"`) never matches: If-Match compares strongly (RFC 9110,
    13.1.1); nor does a bare version (`"2"`, the ETag of earlier releases)."""
    tags = [tag.strip() for line in if_match for tag in line.split(",")]
    return "*" in tags or etag(session) in tags


def _precondition_failed(current: Session) -> JSONResponse:
    """412 with the current session and its ETag, for the client to show and retry."""
    return JSONResponse(
        SessionOut.of(current).model_dump(mode="json"),
        status_code=412,
        headers={"ETag": etag(current)},
    )
