"""The record of a purge: a session's streams were deleted, and what they were.

A purge removes a session's records and snapshots (and its Q&A stream's) from the
log for good; this event is what remains, in a stream of its own, so the audit
timeline shows the purge and `verify` can tell a purged stream from a damaged
one. It holds no content: who, when, why, how many records went, the last
version and chain value of each stream (so a checkpoint taken before the purge
still accounts for its heads), what the chain check found just before the
delete, and the session's token counts by model (usage totals survive).
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID, uuid4

from eventsourcing.domain import BaseAggregate

from .event_model import CreatedEventModel, EventModel
from .values import Value


class PurgedStream(Value):
    """One stream a purge deleted: versions 1 to `last_version` are gone."""

    stream: UUID
    kind: Literal["session", "qa"]
    last_version: int
    last_hash: str  # hex chain value of the record at last_version ("" if none)
    events: int
    snapshots: int
    chain: str = ""  # "" when the chain checked out; else its first problem
    damaged_at: int = 0  # the version of that problem (0: none)


class PurgeReport(Value):
    """What a purge deleted, and what its record keeps."""

    session_id: str
    user_id: str | None
    events: int  # the session's records deleted
    snapshots: int
    qa_events: int  # its Q&A stream's records deleted
    last_version: int
    last_hash: str  # hex chain value of the session's last record
    chain_ok: bool  # False: the session's records were damaged before the purge
    log_compacted: bool  # SQLite: the write-ahead log holds none of it any more


class Purge(BaseAggregate[UUID]):
    """One purge of one session, carried out."""

    class Event(EventModel):
        """Base of purge events."""

    class SessionPurged(Event, CreatedEventModel):
        session_id: str
        user_id: str | None
        reason: str
        streams: list[PurgedStream]
        usage: dict[str, dict[str, float]]  # model -> field -> total, kept for totals

    def __init__(
        self,
        session_id: str,
        user_id: str | None,
        reason: str,
        streams: list[PurgedStream],
        usage: dict[str, dict[str, float]],
        actor: str,
    ) -> None:
        self.session_id = session_id
        self.user_id = user_id
        self.streams = streams

    @classmethod
    def record(
        cls,
        session_id: str,
        user_id: str | None,
        *,
        actor: str,
        reason: str,
        streams: list[PurgedStream],
        usage: dict[str, dict[str, float]],
    ) -> Purge:
        """The tombstone of one purge, in a new stream of its own."""
        return cls._create(
            cls.SessionPurged,
            id=uuid4(),
            session_id=session_id,
            user_id=user_id,
            reason=reason,
            streams=streams,
            usage=usage,
            actor=actor,
        )
