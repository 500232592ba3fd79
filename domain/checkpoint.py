"""Checkpoints: the log's stream heads at one moment, anchored by one root hash.

An auditor keeps the small `Checkpoint` (its stream, position, stream count, root,
signature) somewhere else. The heads it summarises are stored in the log, in the
checkpoint's own stream, so `verify` can name the stream a later truncation or
rewrite touched, while the root shows whether that stored list was altered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID, uuid4

from eventsourcing.domain import BaseAggregate

from .event_model import CreatedEventModel, EventModel
from .values import Value

Head = tuple[UUID, int, bytes]


class Checkpoint(Value):
    """What an auditor keeps: enough to prove later that the log still extends it."""

    stream: UUID
    position: int
    streams: int
    root: str
    taken_at: datetime
    signature: str | None = None

    def signed_text(self) -> bytes:
        """The bytes a signature covers: everything but the time and itself."""
        return (
            f"sessiontrail-checkpoint:{self.stream}:{self.position}:"
            f"{self.streams}:{self.root}"
        ).encode()


class RootHash:
    """The root over stream heads, fed in order: SHA-256 of their concatenation."""

    def __init__(self) -> None:
        self._running = hashlib.sha256(b"sessiontrail-heads-v1")
        self.count = 0

    def add(self, stream: UUID, version: int, value: bytes) -> None:
        self._running.update(stream.bytes + version.to_bytes(8, "big") + value)
        self.count += 1

    def hexdigest(self) -> str:
        return self._running.hexdigest()


class CheckpointRecord(BaseAggregate[UUID]):
    """A checkpoint's stream: taken at a position, pages of heads, then sealed."""

    class Event(EventModel):
        """Base of checkpoint events."""

    class Taken(Event, CreatedEventModel):
        position: int

    class HeadsListed(Event):
        heads: list[tuple[UUID, int, str]]  # stream, version, chain value (hex)

        def apply(self, aggregate: CheckpointRecord) -> None:
            """Heads are read back from the events; the aggregate keeps no copy."""

    class Sealed(Event):
        streams: int
        root: str

        def apply(self, aggregate: CheckpointRecord) -> None:
            aggregate.root = self.root

    def __init__(self, position: int, actor: str = "system") -> None:
        self.position = position
        self.root: str | None = None

    @classmethod
    def start(cls, position: int) -> CheckpointRecord:
        return cls._create(cls.Taken, id=uuid4(), position=position, actor="system")

    def list_heads(self, heads: Iterable[Head]) -> None:
        listed = [(stream, version, value.hex()) for stream, version, value in heads]
        self.trigger_event(self.HeadsListed, heads=listed, actor="system")

    def seal(self, root: RootHash) -> None:
        self.trigger_event(
            self.Sealed, streams=root.count, root=root.hexdigest(), actor="system"
        )
