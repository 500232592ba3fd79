"""`/v1/sessions/{id}/messages`: append a message (idempotent retries) and page
through the transcript."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from ...domain.values import Message, MessagePage, Role
from ..access import MAX_QUERY_INT, Trail, Who, actor_of, etag, owned_session, scope
from ..idempotency import derived_id, reused
from ..query import DIGITS

router = APIRouter(tags=["messages"])


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    content: str = ""
    tool_calls: list[dict[str, JsonValue]] | None = None
    tool_call_id: str | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)


class Appended(BaseModel):
    message: Message
    version: int


@router.post("/v1/sessions/{session_id:id}/messages", status_code=201)
def append_message(
    session_id: str,
    body: MessageIn,
    who: Who,
    trail: Trail,
    response: Response,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Appended:
    """Append a message (never needs If-Match: appends merge). With an
    Idempotency-Key the message id derives from it, so a retry returns the
    first result and stores nothing twice; a different body with the key is 422.
    Of racing requests with one key, the log keeps the first message stored
    under its id: the others are retries of it (200) or 422."""
    session = owned_session(trail, who, session_id)
    message_id = derived_id(who, idempotency_key, session_id)
    fields = body.model_dump(exclude_none=True)
    if message_id is None or not session.held_ids([message_id]):
        message = session.append_message(**fields, id=message_id, actor=actor_of(who))
        saved = trail.sessions.save(session)
        if message_id not in saved.skipped:
            response.headers["ETag"] = etag(session)
            return Appended(message=message, version=session.version)
    assert message_id is not None, "only a given id is ever skipped or held"
    stored = next(m for m in session.messages if m.id == message_id)
    if not _same_message(fields, stored):
        raise reused(idempotency_key)
    response.status_code = 200
    response.headers["ETag"] = etag(session)
    return Appended(message=stored, version=session.version)


@router.get("/v1/sessions/{session_id:id}/messages")
def messages(
    session_id: str,
    who: Who,
    trail: Trail,
    last_n: Annotated[int | None, Query(ge=0, le=MAX_QUERY_INT), DIGITS] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_QUERY_INT), DIGITS] = None,
    limit: Annotated[int | None, Query(ge=0, le=MAX_QUERY_INT), DIGITS] = None,
) -> MessagePage:
    """The last `last_n` messages, or `limit` before position `before`."""
    return trail.sessions.messages(
        session_id, last_n=last_n, before=before, limit=limit, user_id=scope(who)
    )


def _same_message(fields: dict[str, Any], message: Message) -> bool:
    """Whether a retried append's body would make the message stored first."""
    try:
        retried = Message(**fields, id=message.id, created_at=message.created_at)
    except ValidationError:
        return False
    return retried == message
