"""What sessiontrail's aggregates with commands share: events checked against the
input limits before they exist, and snapshots that store typed state.

`Session` and `QASession` keep their own events (nested in them, named in their
stored topics) and their own typed state (`SessionState`, `QAState`); this base
records a command's event once what it records is within the limits, and turns
a snapshot's state back into an aggregate through eventsourcing's public
initialiser, without replaying events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, Self, cast
from uuid import UUID

from eventsourcing.domain import BaseAggregate
from eventsourcing.utils import get_topic, resolve_topic

from .event_model import SnapshotModel
from .limits import check_payload


class TypedState(Protocol):
    """A snapshot's state: the aggregate's attributes, with its two times."""

    created_on: datetime
    modified_on: datetime


class Aggregate(BaseAggregate[UUID]):
    """Base of the aggregates whose commands take people's and agents' input."""

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        """Record a command's event, once what it records is within the limits."""
        check_payload(kwargs)
        super().trigger_event(event_class, **kwargs)

    def to_state(self) -> Any:
        """Every attribute, typed: what a snapshot stores."""
        raise NotImplementedError

    def _restore(self, state: Any) -> None:
        """Set the attributes a snapshot's state holds (not the two times)."""
        raise NotImplementedError

    @classmethod
    def from_state(cls, stream: UUID, version: int, state: TypedState) -> Self:
        """The aggregate a snapshot's state describes, at `version`."""
        aggregate = cls.__new__(cls)
        aggregate.__base_init__(stream, version, state.created_on)
        aggregate.modified_on = state.modified_on
        aggregate._restore(state)
        return aggregate


class AggregateSnapshot(SnapshotModel):
    """A snapshot of an `Aggregate`: its typed state, restored without replay."""

    @classmethod
    def take(cls, aggregate: Any) -> Self:
        assert isinstance(aggregate, Aggregate)
        return cls(
            originator_id=aggregate.id,
            originator_version=aggregate.version,
            timestamp=cls.create_timestamp(),
            topic=get_topic(type(aggregate)),
            state=aggregate.to_state(),
        )

    def mutate(self, _: None) -> Aggregate:
        aggregate_class = cast(type[Aggregate], resolve_topic(self.topic))
        return aggregate_class.from_state(
            self.originator_id, self.originator_version, self.state
        )


def adopt(target: Aggregate, source: Aggregate) -> None:
    """Give `target` the state of `source` (the same stream and kind) in place:
    a caller's object made what its stream holds now (merged onto by a save, or
    read again after an erasure)."""
    target.__dict__.clear()
    target.__dict__.update(source.__dict__)
