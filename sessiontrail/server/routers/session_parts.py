"""Routes for what hangs off one session: the pending question, the session as it
was (`at`), token usage, Q&A entries, graph context and trace steps.
Each first checks the session is the caller's (else 404)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, JsonValue

from ...domain.errors import InvalidInput, SessionNotFound
from ...domain.qa_values import SessionQAEntry, SessionQAUpdate, SessionTraceStep
from ...domain.values import Message, PendingQuestion
from ...domain.version_diff import changes, diff_json
from ...projections.usage import UsageRecord
from ...trail import SessionTrail
from ..access import (
    MAX_QUERY_INT,
    SessionOut,
    Trail,
    Who,
    actor_of,
    owned_session,
    scope,
    tagged,
)
from ..auth import Caller
from ..query import DIGITS, QueryTime

router = APIRouter()


class SessionAt(BaseModel):
    session: SessionOut
    messages: list[Message]


class Usage(BaseModel):
    records: list[UsageRecord]
    totals: dict[str, float | int]


class QAIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str
    answer: str
    context: str | None = None
    qa_id: str | None = None


class QACreated(BaseModel):
    qa_id: str


class GraphContext(BaseModel):
    model_config = ConfigDict(extra="forbid")
    context: str | None


@router.put("/v1/sessions/{session_id:id}/pending-question", tags=["sessions"])
def ask(
    session_id: str,
    question: PendingQuestion,
    who: Who,
    trail: Trail,
    response: Response,
) -> SessionOut:
    """Record a question the agent waits on (replaces any other)."""
    session = owned_session(trail, who, session_id)
    session.set_pending_question(question, actor=actor_of(who))
    trail.sessions.save(session)
    return tagged(response, session)


@router.delete("/v1/sessions/{session_id:id}/pending-question", tags=["sessions"])
def resolve(session_id: str, who: Who, trail: Trail, response: Response) -> SessionOut:
    """Mark the pending question answered."""
    session = owned_session(trail, who, session_id)
    session.resolve_question(actor=actor_of(who))
    trail.sessions.save(session)
    return tagged(response, session)


@router.get("/v1/sessions/{session_id:id}/at", tags=["sessions"])
def at(
    session_id: str,
    who: Who,
    trail: Trail,
    version: Annotated[int | None, Query(ge=1, le=MAX_QUERY_INT), DIGITS] = None,
    time: QueryTime = None,
) -> SessionAt:
    """The session as it was at a version or a moment (give one)."""
    if (version is None) == (time is None):
        raise InvalidInput("version/time: give exactly one of them")
    then = trail.sessions.at(session_id, version=version, at=time, user_id=scope(who))
    if then is None:
        raise SessionNotFound(f"no session {session_id!r} then")
    return SessionAt(session=SessionOut.of(then), messages=then.messages)


class VersionDiff(BaseModel):
    added: list[Message]
    removed: list[Message]
    fields: dict[str, list[JsonValue]]


@router.get("/v1/sessions/{session_id:id}/diff", tags=["sessions"])
def diff(
    session_id: str,
    who: Who,
    trail: Trail,
    first: Annotated[int, Query(alias="from", ge=1, le=MAX_QUERY_INT), DIGITS],
    second: Annotated[int, Query(alias="to", ge=1, le=MAX_QUERY_INT), DIGITS],
) -> VersionDiff:
    """What changed from version `from` to version `to`: messages added and
    removed, and each changed field as [before, after]."""
    if first > second:
        raise InvalidInput("from/to: give the older version first")
    try:  # `to` first: past the last version, the error names it, not `version`
        new = trail.sessions.at(session_id, version=second, user_id=scope(who))
    except InvalidInput as exc:
        raise InvalidInput(f"to:{str(exc).partition(':')[2]}") from None
    old = trail.sessions.at(session_id, version=first, user_id=scope(who))
    if old is None or new is None:
        raise SessionNotFound(f"no session {session_id!r}")
    return VersionDiff.model_validate(diff_json(changes(old, new)))


@router.post("/v1/sessions/{session_id:id}/usage", status_code=204, tags=["usage"])
def record_usage(
    session_id: str, record: dict[str, JsonValue], who: Who, trail: Trail
) -> None:
    """Record one token-usage object verbatim (e.g. a provider's `usage`)."""
    _owner(trail, who, session_id)
    if not trail.sessions.append_token_usage(
        session_id, record, user_id=scope(who), actor=actor_of(who)
    ):  # deleted since the check: nothing was stored
        raise SessionNotFound(f"no session {session_id!r}")


@router.get("/v1/sessions/{session_id:id}/usage", tags=["usage"])
def usage(session_id: str, who: Who, trail: Trail) -> Usage:
    """Every usage record of the session and their totals."""
    _owner(trail, who, session_id)
    return Usage(
        records=trail.usage.records(session_id, user_id=scope(who)),
        totals=trail.usage.session_totals(session_id, user_id=scope(who)),
    )


@router.post("/v1/sessions/{session_id:id}/qa", status_code=201, tags=["qa"])
def add_qa(session_id: str, body: QAIn, who: Who, trail: Trail) -> QACreated:
    """Store a Q&A entry; its id is generated unless given."""
    user = _owner(trail, who, session_id)
    made = trail.qa.create_qa_entry(
        session_id,
        body.question,
        body.answer,
        user_id=user,
        context=body.context,
        qa_id=body.qa_id,
        actor=actor_of(who),
    )
    return QACreated(qa_id=made)


@router.get("/v1/sessions/{session_id:id}/qa", tags=["qa"])
def qa_entries(
    session_id: str,
    who: Who,
    trail: Trail,
    last_n: Annotated[int | None, Query(ge=0, le=MAX_QUERY_INT), DIGITS] = None,
) -> list[SessionQAEntry]:
    """The Q&A entries, oldest first (the last `last_n` when given)."""
    user = _owner(trail, who, session_id)
    if last_n is None:
        return trail.qa.get_all_qa_entries(session_id, user_id=user)
    return trail.qa.get_latest_qa_entries(session_id, last_n=last_n, user_id=user)


@router.patch("/v1/sessions/{session_id:id}/qa/{qa_id}", status_code=204, tags=["qa"])
def update_qa(
    session_id: str,
    qa_id: str,
    changes: dict[str, JsonValue],
    who: Who,
    trail: Trail,
) -> None:
    """Change fields of an entry (null clears one); 404 if there is no entry."""
    user = _owner(trail, who, session_id)
    fields: dict[str, Any] = changes  # checked field by field, strictly, here
    updates = SessionQAUpdate(**fields)
    if not trail.qa.update_qa_entry(
        session_id, qa_id, updates, user_id=user, actor=actor_of(who)
    ):
        raise SessionNotFound(f"no Q&A entry {qa_id!r}")


@router.delete("/v1/sessions/{session_id:id}/qa/{qa_id}", status_code=204, tags=["qa"])
def delete_qa(session_id: str, qa_id: str, who: Who, trail: Trail) -> None:
    """Delete an entry (an event; `history` keeps it)."""
    user = _owner(trail, who, session_id)
    if not trail.qa.delete_qa_entry(
        session_id, qa_id, user_id=user, actor=actor_of(who)
    ):
        raise SessionNotFound(f"no Q&A entry {qa_id!r}")


@router.put("/v1/sessions/{session_id:id}/graph-context", status_code=204, tags=["qa"])
def set_context(session_id: str, body: GraphContext, who: Who, trail: Trail) -> None:
    """Set the session's graph context."""
    user = _owner(trail, who, session_id)
    if body.context is None:
        raise InvalidInput("context: required")
    trail.qa.set_graph_context(
        session_id, body.context, user_id=user, actor=actor_of(who)
    )


@router.get("/v1/sessions/{session_id:id}/graph-context", tags=["qa"])
def context(session_id: str, who: Who, trail: Trail) -> GraphContext:
    """The session's graph context (null when none was set)."""
    user = _owner(trail, who, session_id)
    return GraphContext(context=trail.qa.get_graph_context(session_id, user_id=user))


@router.post("/v1/sessions/{session_id:id}/traces", status_code=201, tags=["qa"])
def add_step(
    session_id: str, step: SessionTraceStep, who: Who, trail: Trail
) -> dict[str, str]:
    """Record one agent trace step."""
    user = _owner(trail, who, session_id)
    trace_id = trail.qa.append_agent_trace_step(
        user, session_id, step, actor=actor_of(who)
    )
    return {"trace_id": trace_id}


@router.get("/v1/sessions/{session_id:id}/traces", tags=["qa"])
def steps(
    session_id: str,
    who: Who,
    trail: Trail,
    last_n: Annotated[int | None, Query(ge=0, le=MAX_QUERY_INT), DIGITS] = None,
) -> list[SessionTraceStep]:
    """The trace steps, oldest first (the last `last_n` when given)."""
    user = _owner(trail, who, session_id)
    return trail.qa.get_agent_trace_steps(user, session_id, last_n=last_n)


def _owner(trail: SessionTrail, who: Caller, session_id: str) -> str | None:
    """The session's user, once it is known to be the caller's."""
    return owned_session(trail, who, session_id).user_id
