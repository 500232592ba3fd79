"""What a purge records about a stream before it deletes it: the stream's hash
chain checked from its first record, its last version and chain value, its
record and snapshot counts, and (for a session) its owner and token counts.

The walk reads the stream a page at a time (O(its records), O(one page) memory)
and never stops at a damaged record: a purge goes ahead (retention may be a
duty), and what the chain check found is kept in the purge's record.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from ..domain.errors import ChecksumMismatch, SessiontrailError
from ..domain.purge import PurgedStream
from ..domain.session import Session
from ..infrastructure.chain import ChainWalk, unframe
from ..infrastructure.event_store import SessionStore
from ..infrastructure.log_reader import LogReader
from ..projections.usage import numeric_fields

PAGE = 500
READ_TOPICS = {
    get_topic(kind)
    for kind in (Session.Started, Session.ModelChanged, Session.TokenUsageRecorded)
}
"""The records a session's walk decodes: its owner, and its usage by model."""


class StreamWalk:
    """One stream, walked: its chain, counts and (for a session) owner and usage."""

    def __init__(self, store: SessionStore, reader: LogReader, stream: UUID) -> None:
        self._store = store
        self._reader = reader
        self.stream = stream
        self.events = 0
        self.last_version = 0
        self.last_hash = ""
        self.chain = ""
        self.damaged_at = 0
        self.started: Session.Started | None = None
        self.usage: dict[str, dict[str, float]] = {}
        self._model = ""

    def walk(self, decode: bool) -> StreamWalk:
        """Read every record; `decode` the session's owner and usage records."""
        check = ChainWalk(self.stream)
        while True:
            page = self._reader.records(self.stream, self.last_version, PAGE)
            for record in page:
                self._count(check, record)
                if decode and record.topic in READ_TOPICS:
                    self._read(record)
            if len(page) < PAGE:
                return self

    def purged(self, kind: Literal["session", "qa"]) -> PurgedStream:
        """What the purge's record says of this stream."""
        return PurgedStream(
            stream=self.stream,
            kind=kind,
            last_version=self.last_version,
            last_hash=self.last_hash,
            events=self.events,
            snapshots=len(self._reader.snapshot_records(self.stream)),
            chain=self.chain,
            damaged_at=self.damaged_at,
        )

    def _count(self, check: ChainWalk, record: StoredEvent) -> None:
        self.events += 1
        self.last_version = record.originator_version
        if not self.chain:
            try:
                check.check(record)
            except ChecksumMismatch as exc:
                self.chain, self.damaged_at = exc.problem, exc.version
        stored, _ = unframe(record.state)
        value = stored if stored is not None else check.value
        self.last_hash = value.hex() if value is not None else ""

    def _read(self, record: StoredEvent) -> None:
        """Fold the owner and usage, as the usage read model names models."""
        try:
            event = self._store.mapper.to_domain_event(record)
        except SessiontrailError:
            return  # unreadable: the chain check names the damage
        if isinstance(event, Session.Started):
            self.started, self._model = event, event.model
        elif isinstance(event, Session.ModelChanged):
            self._model = event.model
        elif isinstance(event, Session.TokenUsageRecorded):
            own = event.record.get("model")
            model = own if isinstance(own, str) and own else event.model or self._model
            totals = self.usage.setdefault(model, {})
            for field, value in [("records", 1.0), *numeric_fields(event.record)]:
                totals[field] = totals.get(field, 0.0) + value
