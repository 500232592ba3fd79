"""Reading the log stream by stream: what verify, export and import walk.

Stream ids a page at a time, a stream's records (undecoded) and snapshots, its
events decoded a page at a time, or one event at a version. It only reads,
through the event store's recorder and mapper.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import cast
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ..domain.event_model import EventModel
from .event_store import SessionStore, storage_errors


class LogReader:
    """Reads streams of one store's log."""

    def __init__(self, store: SessionStore) -> None:
        self._store = store

    def stream_ids(self, after: UUID | None, limit: int) -> list[UUID]:
        """Up to `limit` stream ids after `after`, in id order."""
        with storage_errors("list the streams"):
            return self._store.backend.stream_ids(self._store.recorder, after, limit)

    def records(self, stream: UUID, after: int, limit: int) -> Sequence[StoredEvent]:
        """Stored records (undecoded) of a stream after a version, oldest first."""
        with storage_errors(f"read stream {stream}"):
            return self._store.recorder.select_events(stream, gt=after, limit=limit)

    def last_record(self, stream: UUID) -> StoredEvent | None:
        """A stream's newest record (undecoded), None for an empty stream."""
        with storage_errors(f"read stream {stream}"):
            found = self._store.recorder.select_events(stream, desc=True, limit=1)
        return found[0] if found else None

    def snapshot_records(self, stream: UUID) -> Sequence[StoredEvent]:
        """The stored snapshots of a stream (undecoded), oldest first."""
        snapshots = self._store.snapshots
        if snapshots is None:
            return []
        with storage_errors(f"read the snapshots of {stream}"):
            return snapshots.recorder.select_events(stream)

    def iter_events(self, stream: UUID, page: int = 100) -> Iterator[EventModel]:
        """A stream's events, oldest first, decoded a page at a time."""
        after = 0
        while True:
            records = self.records(stream, after, page)
            for record in records:
                yield cast(EventModel, self._store.mapper.to_domain_event(record))
            if len(records) < page:
                return
            after = records[-1].originator_version

    def stream_events(self, stream: UUID) -> list[EventModel]:
        """Every event of one stream, oldest first (loads check the chain)."""
        with storage_errors(f"read stream {stream}"):
            return [cast(EventModel, event) for event in self._store.events.get(stream)]

    def event_at(self, stream: UUID, version: int) -> EventModel | None:
        """One event of a stream, or None."""
        with storage_errors(f"read stream {stream}"):
            found = list(self._store.events.get(stream, gt=version - 1, lte=version))
        return cast(EventModel, found[0]) if found else None
