"""The record of an erasure: who was erased, when, and by whom (the audit trail).

Erasure itself is the destruction of the user's data key (crypto-shredding); this
event is what remains to say it happened. It holds the user id and nothing else.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from eventsourcing.domain import BaseAggregate

from .event_model import CreatedEventModel, EventModel


class Erasure(BaseAggregate[UUID]):
    """One erasure request, carried out."""

    class Event(EventModel):
        """Base of erasure events."""

    class UserErased(Event, CreatedEventModel):
        user_id: str

    def __init__(self, user_id: str, actor: str) -> None:
        self.user_id = user_id

    @classmethod
    def record(cls, user_id: str, actor: str) -> Erasure:
        return cls._create(cls.UserErased, id=uuid4(), user_id=user_id, actor=actor)
