"""Pydantic bases that make eventsourcing events and snapshots typed JSON.

Stored events carry structure only (types, not input limits), so that old events
always load; `class_version` with `upcast_vN_vN+1` static methods evolves them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import (
    CanInitAggregate,
    CanMutateAggregate,
    CanSnapshotAggregate,
)
from pydantic import BaseModel, ConfigDict

from .errors import ChecksumMismatch, SessiontrailError

ENVELOPE_FIELDS = frozenset(
    {"originator_id", "originator_version", "timestamp", "originator_topic", "actor"}
)


class Recorded(BaseModel):
    """What every stored record has: its stream, its place in it and its time."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    class_version: ClassVar[int] = 1

    originator_id: UUID
    originator_version: int
    timestamp: datetime


class EventModel(Recorded, CanMutateAggregate[UUID]):
    """An immutable event of one aggregate's stream, stamped with who caused it.

    `personal` names the fields that are their user's content (domain/personal.py):
    sealed with the user's key when stored, "[erased]" once that key is destroyed.
    """

    personal: ClassVar[Mapping[str, Any]] = {}
    actor: str

    def mutate(self, aggregate: Any) -> Any:
        """Apply this event (eventsourcing's fold step). A stored event that does
        not apply to its stream (an update of an entry that is not there, a version
        out of sequence) is ChecksumMismatch naming it: its stream cannot be read,
        and every reader reports that stream alone, whatever the event raised."""
        try:
            return super().mutate(aggregate)
        except SessiontrailError:
            raise
        except Exception as exc:
            raise ChecksumMismatch(
                str(self.originator_id),
                self.originator_version,
                f"{type(self).__qualname__} does not apply to its stream: "
                f"{type(exc).__name__}: {exc}",
            ) from exc

    def json_payload(self) -> dict[str, Any]:
        """The event's own fields as JSON values: what timelines show."""
        return self.model_dump(mode="json", exclude=set(ENVELOPE_FIELDS))

    def payload(self) -> dict[str, Any]:
        """The event's own fields, without the envelope every event shares."""
        return {
            name: getattr(self, name)
            for name in type(self).model_fields
            if name not in ENVELOPE_FIELDS
        }


class CreatedEventModel(EventModel, CanInitAggregate[UUID]):
    """The first event of a stream: it names the aggregate class to build."""

    originator_topic: str


class SnapshotModel(Recorded, CanSnapshotAggregate[UUID]):
    """A snapshot: the aggregate's attributes at one version, typed by `state`."""

    personal: ClassVar[Mapping[str, Any]] = {}

    topic: str
    state: Any
