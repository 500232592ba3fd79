"""The portable form of a stored event: one JSON object per event, for export/import.

It names the stream by what people know (session id, user, kind) instead of its
UUID, keeps every envelope field (version, time, actor) so an import reproduces the
same history, and records the event's class_version so older exports are upcast.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from eventsourcing.utils import get_topic
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    JsonValue,
    PositiveInt,
    ValidationError,
)

from ..domain.errors import InvalidInput, SessiontrailError
from ..domain.event_model import CreatedEventModel, EventModel
from ..domain.qa import QASession, qa_stream_id
from ..domain.session import Session, stream_id
from ..infrastructure.mapper import upcast

StreamKind = Literal["session", "qa"]
AGGREGATES: dict[StreamKind, type[Session] | type[QASession]] = {
    "session": Session,
    "qa": QASession,
}


def _event_classes() -> dict[str, tuple[StreamKind, type[EventModel]]]:
    """Every event class of both aggregates by qualified name ("Session.Started")."""
    found: dict[str, tuple[StreamKind, type[EventModel]]] = {}
    for kind, aggregate in AGGREGATES.items():
        pending: list[type[EventModel]] = [aggregate.Event]
        while pending:
            cls = pending.pop()
            pending.extend(cls.__subclasses__())
            if cls is not aggregate.Event:
                found[cls.__qualname__] = (kind, cls)
    return found


EVENT_CLASSES = _event_classes()


def _within_utc(value: datetime) -> datetime:
    """A time as given, if UTC can hold it: readers turn times into UTC (the
    session index, retention), and one past year 9999 or before year 1 there
    would stop them."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("must fall within years 1 to 9999 in UTC") from None
    return value


EventTime = Annotated[AwareDatetime, AfterValidator(_within_utc)]


class StreamOwner(BaseModel):
    """Whose stream an event belongs to, in the terms callers use."""

    model_config = ConfigDict(frozen=True)

    stream: StreamKind
    session_id: str
    user_id: str | None

    @classmethod
    def of_start(cls, event: EventModel) -> StreamOwner | None:
        """The owner a stream's first event names; None for any other event."""
        if isinstance(event, Session.Started):
            return cls(
                stream="session", session_id=event.session_id, user_id=event.user_id
            )
        if isinstance(event, QASession.QASessionStarted):
            return cls(stream="qa", session_id=event.session_id, user_id=event.user_id)
        return None

    @property
    def stream_uuid(self) -> UUID:
        if self.stream == "session":
            return stream_id(self.session_id)
        if self.user_id is None:
            raise InvalidInput("user_id: a Q&A stream needs its user")
        return qa_stream_id(self.user_id, self.session_id)


class PortableEvent(StreamOwner):
    """One event as an export line: owner, place, time, actor, type and fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: PositiveInt
    event: str
    class_version: PositiveInt = 1
    timestamp: EventTime
    actor: str
    payload: dict[str, JsonValue]

    @classmethod
    def of(cls, event: EventModel, owner: StreamOwner) -> PortableEvent:
        return cls(
            **owner.model_dump(),
            version=event.originator_version,
            event=type(event).__qualname__,
            class_version=type(event).class_version,
            timestamp=event.timestamp,
            actor=event.actor,
            payload=event.json_payload(),
        )

    @property
    def owner(self) -> StreamOwner:
        return StreamOwner(
            stream=self.stream, session_id=self.session_id, user_id=self.user_id
        )

    def to_event(self) -> EventModel:
        """The domain event, upcast to the current class version; InvalidInput if
        it is not one this code can store."""
        kind, cls = EVENT_CLASSES.get(self.event, (None, None))
        if cls is None:
            raise InvalidInput(f"event: unknown event type {self.event!r}")
        if kind != self.stream:
            raise InvalidInput(
                f"event: {self.event} is not an event of a {self.stream} stream"
            )
        state: dict[str, Any] = dict(self.payload)
        try:
            upcast(
                cls, state, self.class_version, f"{self.session_id!r} v{self.version}"
            )
        except SessiontrailError as exc:
            raise InvalidInput(f"class_version: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"payload: cannot upcast: {exc}") from None
        state |= {
            "originator_id": self.stream_uuid,
            "originator_version": self.version,
            "timestamp": self.timestamp,
            "actor": self.actor,
        }
        if issubclass(cls, CreatedEventModel):
            state["originator_topic"] = get_topic(AGGREGATES[kind])
        try:
            return cls.model_validate(state)
        except ValidationError as exc:
            raise InvalidInput(f"payload.{InvalidInput.from_validation(exc)}") from None
