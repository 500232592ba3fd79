"""What verify makes of purges: each is listed, a stream damaged before its purge
stays a problem, and a checkpoint's head of a purged stream is accounted for by
the purge's record (its last version and chain value), so a purge can neither
pass for damage nor hide a rewrite made before it.

The records are read as verify meets them in its walk: O(purges) memory.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from ..domain.errors import SessiontrailError
from ..domain.purge import Purge, PurgedStream
from ..domain.values import Value

PURGE_TOPIC = get_topic(Purge.SessionPurged)


class PurgedEntry(Value):
    """One stream a purge deleted, as verify reports it."""

    stream: UUID
    label: str  # "session chat-42", "Q&A of chat-42 (alice)"
    last_version: int
    last_hash: str
    purged_at: datetime
    actor: str
    reason: str


class PurgeLedger:
    """The purge records verify has met."""

    def __init__(self, mapper: Mapper[UUID]) -> None:
        self._mapper = mapper
        self._streams: dict[UUID, list[PurgedStream]] = {}
        self.entries: list[PurgedEntry] = []
        self.damaged: list[PurgedStream] = []
        """Purged streams whose chain was damaged before the purge: problems."""

    def note(self, record: StoredEvent) -> None:
        """Read a stream's first record if it is a purge's."""
        if record.topic != PURGE_TOPIC:
            return
        try:
            event = self._mapper.to_domain_event(record)
        except SessiontrailError:
            return  # its own chain walk reports it
        assert isinstance(event, Purge.SessionPurged)
        for purged in event.streams:
            self._streams.setdefault(purged.stream, []).append(purged)
            owner = f" ({event.user_id or 'default'})" if purged.kind == "qa" else ""
            what = "Q&A of " if purged.kind == "qa" else "session "
            self.entries.append(
                PurgedEntry(
                    stream=purged.stream,
                    label=f"{what}{event.session_id}{owner}",
                    last_version=purged.last_version,
                    last_hash=purged.last_hash,
                    purged_at=event.timestamp,
                    actor=event.actor,
                    reason=event.reason,
                )
            )
        self.damaged += [purged for purged in event.streams if purged.chain]

    def head_verdict(
        self, stream: UUID, version: int, value: bytes
    ) -> Literal["accounted", "rewritten", "unknown"]:
        """For a checkpoint's head that the live stream no longer holds: whether
        a purge of the stream accounts for it (it ended past that version, or
        at it with that chain value), says it was rewritten before the purge (at
        that version with another value), or no purge of it is known."""
        purges = self._streams.get(stream, [])
        for purged in purges:
            if purged.last_version > version:
                return "accounted"  # the purge's walk checked the chain past it
            if purged.last_version == version and purged.last_hash == value.hex():
                return "accounted"
        if any(purged.last_version == version for purged in purges):
            return "rewritten"
        return "unknown"
