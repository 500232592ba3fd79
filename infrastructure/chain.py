"""The hash chain: every stored record commits to its predecessor in its stream.

A record's stored bytes are `MARK + digest + body`, where body is the mapper's
(compressed, encrypted) payload and digest = SHA-256(previous digest + canonical
bytes of this record). Editing, dropping, reordering or inserting a record breaks
the chain at that record; a checkpoint kept elsewhere also catches a cut-off tail.
Records written before the chain existed have no MARK (they are JSON) and are
hashed all the same, so the first chained record after them covers them.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import AggregateRecorder, StoredEvent

from ..domain.errors import ChecksumMismatch

MARK = b"\x00\x01"  # JSON never starts with NUL, so unmarked records are legacy
DIGEST_SIZE = 32
GENESIS = bytes(DIGEST_SIZE)
UNLINKED = GENESIS  # the placeholder the mapper writes until the store links it


def digest(
    previous: bytes, stream: UUID, version: int, topic: str, body: bytes
) -> bytes:
    """The chain value of one record, over its place, type and stored payload."""
    name = topic.encode()
    return hashlib.sha256(
        previous
        + stream.bytes
        + version.to_bytes(8, "big")
        + len(name).to_bytes(4, "big")
        + name
        + body
    ).digest()


def frame(body: bytes, value: bytes = UNLINKED) -> bytes:
    return MARK + value + body


def unframe(state: bytes) -> tuple[bytes | None, bytes]:
    """(stored digest or None for a legacy record, body)."""
    if state[: len(MARK)] == MARK:
        start = len(MARK) + DIGEST_SIZE
        return state[len(MARK) : start], state[start:]
    return None, state


def stream_of(record: StoredEvent) -> UUID:
    """A record's stream id as a UUID (recorders may hand back strings)."""
    found = record.originator_id
    return found if isinstance(found, UUID) else UUID(found)


@dataclass(frozen=True)
class LinkedRecord(StoredEvent):
    """A record to append, with the chain value of the record before it: the
    append must still find that record stored, or the stream was purged (or
    rewritten) since the writer read it, and the append is refused."""

    previous: bytes = GENESIS


def link(stored: StoredEvent, previous: bytes) -> tuple[StoredEvent, bytes]:
    """The record with its chain value filled in, and that value."""
    _, body = unframe(stored.state)
    value = digest(
        previous, stream_of(stored), stored.originator_version, stored.topic, body
    )
    linked = LinkedRecord(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=frame(body, value),
        previous=previous,
    )
    return linked, value


def predecessors(records: Iterable[StoredEvent]) -> dict[tuple[UUID, int], bytes]:
    """(stream, version) -> the chain value the record before it must hold, for
    the first record of each stream in an append that does not start its stream
    (the rest follow records of the same append)."""
    needed: dict[tuple[UUID, int], bytes] = {}
    seen: set[UUID] = set()
    for record in records:
        stream = stream_of(record)
        if stream in seen:
            continue
        seen.add(stream)
        if record.originator_version > 1 and isinstance(record, LinkedRecord):
            needed[stream, record.originator_version] = record.previous
    return needed


class ChainWalk:
    """Checks one stream's records against the chain as they are read, in order.

    From the start (`after=0`) every record is checked from GENESIS. After a
    version (a load from a snapshot at `after`) the first record read must be that
    version itself: its stored chain value anchors the rest. Raises
    ChecksumMismatch at the first record missing, reordered, inserted (from this
    stream or another), altered, or stripped of its chain value.
    """

    def __init__(self, stream: UUID, after: int = 0) -> None:
        self.stream = stream
        self.anchor = after
        self.expected = after if after else 1  # the next version to be read
        self.value: bytes | None = GENESIS if not after else None
        self.chained = False  # a chained record was seen: legacy ones may not follow
        self.unchained = 0  # legacy records checked (hashed, without a stored value)
        self.head: bytes | None = None  # the last record's stored chain value

    def check(self, record: StoredEvent) -> bool:
        """Check the next record; False for the anchor (read, not to be folded)."""
        version = record.originator_version
        if version != self.expected:
            self._fail(f"missing (the next stored record is version {version})")
        stored, body = unframe(record.state)
        self.head = stored
        anchor = version == self.anchor
        if anchor:
            self.value = stored
        elif stored is None:
            if self.chained:
                self._fail("has no checksum, after records that have one")
            self.unchained += 1
            self.value = self._next(record, body)
        elif self.value is not None and stored != self._next(record, body):
            self._fail("does not match its checksum: altered, reordered or inserted")
        else:
            self.value = stored
        self.chained = self.chained or stored is not None
        self.expected += 1
        return not anchor

    def finish(self) -> None:
        """After the last record: the anchor must have been there."""
        if self.anchor and self.expected == self.anchor:
            self._fail("missing (its stream ends before it)")

    def _next(self, record: StoredEvent, body: bytes) -> bytes | None:
        """The chain value `record` should have; None when the one before is unknown."""
        if self.value is None:
            return None
        return digest(
            self.value, self.stream, record.originator_version, record.topic, body
        )

    def _fail(self, problem: str) -> None:
        raise ChecksumMismatch(str(self.stream), self.expected, problem)


class ChainHeads:
    """The chain value at each stream's head, remembered for the next append.

    A value is only reused for the exact version it belongs to, and stored
    records never change, so a head another process moved on is simply a miss.
    """

    def __init__(self, recorder: AggregateRecorder, size: int = 10_000) -> None:
        self._recorder = recorder
        self._size = size
        self._heads: OrderedDict[UUID, tuple[int, bytes]] = OrderedDict()

    def link(self, records: Sequence[StoredEvent]) -> list[StoredEvent]:
        """The records with their chain values, each after its stream's previous."""
        running: dict[UUID, bytes] = {}
        linked = []
        for record in records:
            stream, version = stream_of(record), record.originator_version
            previous = running.get(stream)
            if previous is None:
                previous = self.value_at(stream, version - 1)
            record, running[stream] = link(record, previous)
            linked.append(record)
        return linked

    def remember(self, records: Sequence[StoredEvent]) -> None:
        """Keep the heads of stored (committed) records."""
        for record in records:
            value, _ = unframe(record.state)
            if value is not None:
                stream = stream_of(record)
                self._heads[stream] = (record.originator_version, value)
                self._heads.move_to_end(stream)
        while len(self._heads) > self._size:
            self._heads.popitem(last=False)

    def known(self, stream: UUID, version: int) -> bytes | None:
        """The remembered chain value at `version`, or None (no read)."""
        cached = self._heads.get(stream)
        return cached[1] if cached is not None and cached[0] == version else None

    def forget(self, streams: Iterable[UUID]) -> None:
        """Drop the remembered heads of streams that were purged."""
        for stream in streams:
            self._heads.pop(stream, None)

    def value_at(self, stream: UUID, version: int) -> bytes:
        """The chain value of a stream's record at `version` (GENESIS before 1)."""
        if version < 1:
            return GENESIS
        known = self.known(stream, version)
        return known if known is not None else self.stored_value(stream, version)

    def stored_value(self, stream: UUID, version: int) -> bytes:
        """The chain value as the database holds it now (what verify trusts)."""
        found = self._recorder.select_events(stream, gt=version - 1, lte=version)
        if found:
            value, _ = unframe(found[0].state)
            if value is not None:
                return value
        return self._walk(stream, version)

    def _walk(self, stream: UUID, version: int) -> bytes:
        """Hash a stream from its start: legacy records carry no value to reuse."""
        value = GENESIS
        for record in self._recorder.select_events(stream, lte=version):
            _, body = unframe(record.state)
            value = digest(value, stream, record.originator_version, record.topic, body)
        return value
