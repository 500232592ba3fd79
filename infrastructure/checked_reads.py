"""Loads check the hash chain over what they read, as they read it.

Every load reads each record it folds, so checking the chain on the way costs one
SHA-256 per record: a load never folds a record that was moved within its stream,
copied from another one, altered, or dropped, and raises ChecksumMismatch naming
it instead. (A whole-log check, and a rewrite that recomputes the chain, are
`verify`'s job, against a checkpoint.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import AggregateRecorder, EventStore, Mapper

from .chain import ChainWalk


class CheckedEventStore(EventStore[UUID]):
    """An event store whose in-order reads are checked against the chain.

    A read after a version (a load from a snapshot at that version) also reads the
    record at that version: its stored chain value anchors the check of the rest.
    Newest-first and limited reads (a stream's head) are not folds; they pass.
    """

    def __init__(self, mapper: Mapper[UUID], recorder: AggregateRecorder) -> None:
        super().__init__(mapper, recorder)
        self._walked = threading.local()

    def walked_head(self, stream: UUID, version: int) -> bytes | None:
        """The stored chain value of the record at `version` if this thread's
        last checked read of `stream` ended there (a load just made), else None:
        what names the stream's incarnation, which a purge and a new start under
        the same id change, though the versions count up the same again."""
        last = getattr(self._walked, "last", None)
        if last is None or last[:2] != (stream, version):
            return None
        head: bytes | None = last[2]
        return head

    def get(
        self,
        originator_id: UUID,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Iterator[DomainEventProtocol[UUID]]:
        if desc or limit is not None:
            return super().get(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        return self._checked(originator_id, gt or 0, lte)

    def _checked(
        self, stream: UUID, after: int, lte: int | None
    ) -> Iterator[DomainEventProtocol[UUID]]:
        walk = ChainWalk(stream, after)
        for record in self.recorder.select_events(
            stream, gt=after - 1 if after else None, lte=lte
        ):
            if walk.check(record):
                yield self.mapper.to_domain_event(record)
        walk.finish()
        self._walked.last = (stream, walk.expected - 1, walk.head)
