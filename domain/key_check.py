"""The key-check stream: one encrypted event that proves a key fits the log."""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import BaseAggregate

from .event_model import CreatedEventModel, EventModel

KEY_CHECK_STREAM = uuid5(UUID("a1f3c0de-7b9e-5d2c-8e4f-0c6b2a9d1e37"), "key-check")


class KeyCheck(BaseAggregate[UUID]):
    """Written once, by the first trail opened with a key; never changed."""

    class Event(EventModel):
        """Base of the key-check events."""

    class Created(Event, CreatedEventModel):
        note: str

    def __init__(self, note: str, actor: str = "system") -> None:
        self.note = note

    @staticmethod
    def create_id(note: str, actor: str = "system") -> UUID:
        return KEY_CHECK_STREAM

    @classmethod
    def start(cls) -> KeyCheck:
        return cls._create(
            cls.Created, note="sessiontrail encryption key check", actor="system"
        )
