"""Planning an import of events: the first pass over the file, writing nothing.

Every line must be valid (`import_checks.py`); each stream must start with its
own start event at version 1, keep one owner and consecutive versions, and name
no message or Q&A entry id its stream still holds (as the commands refuse); where
the database already holds the stream, the file must agree with it at the
versions both hold. A new session must not read like one the database holds
under another spelling of its id (NFC/NFD). The plan says, per stream, how far
the database already is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from ..domain.errors import InvalidInput
from ..domain.event_model import CreatedEventModel, EventModel
from ..domain.qa import QASession
from ..domain.session import Session, stream_id
from ..domain.session_ids import spellings
from ..infrastructure.event_store import SessionStore
from ..infrastructure.log_reader import LogReader
from .import_checks import imported_event
from .portable import PortableEvent, StreamOwner
from .sniffing import Records


@dataclass
class StreamPlan:
    """One stream of the file: what the database holds, and the file's last event."""

    owner: StreamOwner
    stored: int
    last: EventModel
    held: set[str] = field(default_factory=set)
    """The ids of the messages (or Q&A entries) the stream holds so far."""


class ImportPlanner:
    """Checks an import file against the database it is to be imported into."""

    def __init__(self, store: SessionStore, reader: LogReader) -> None:
        self._store = store
        self._reader = reader

    def plan(self, records: Records, user_id: str | None) -> dict[UUID, StreamPlan]:
        """First pass: every line valid and every stream consistent; nothing written."""
        plans: dict[UUID, StreamPlan] = {}
        for where, record in records():
            try:
                portable, event = imported_event(record)
            except InvalidInput as exc:
                raise InvalidInput(f"{where}: {exc}") from None
            label = f"{where}: {portable.stream} stream of {portable.session_id!r}"
            if user_id is not None and portable.user_id != user_id:
                raise InvalidInput(
                    f"{label}: belongs to {portable.user_id!r}, not {user_id!r}"
                )
            plan = plans.get(event.originator_id)
            if plan is None:
                plan = plans[event.originator_id] = self._start(portable, event, label)
            else:
                _continues(plan, portable, event, label)
            _hold_ids(plan, event, label)
            plan.last = event
            if event.originator_version == plan.stored:
                self._same_as_stored(event, label)
        for plan in plans.values():
            if plan.stored > plan.last.originator_version:
                self._same_as_stored(
                    plan.last,
                    f"{plan.owner.stream} stream of {plan.owner.session_id!r}",
                )
        self._no_lookalikes(plans)
        return plans

    def _no_lookalikes(self, plans: dict[UUID, StreamPlan]) -> None:
        """InvalidInput for a new session whose id, spelled another way (NFC or
        NFD), names a session the database holds outside this file: callers
        typing that spelling would reach the other session, not this one."""
        for plan in plans.values():
            if plan.owner.stream != "session" or plan.stored:
                continue
            for spelling in spellings(plan.owner.session_id)[1:]:
                other = stream_id(spelling)
                if other not in plans and self._store.has_stream(other):
                    raise InvalidInput(
                        f"session_id: {plan.owner.session_id!r} reads like a "
                        "session the database holds under another spelling; "
                        "import it under another id"
                    )

    def _start(
        self, portable: PortableEvent, event: EventModel, label: str
    ) -> StreamPlan:
        """The plan of a stream's first line: its own start event, at version 1."""
        if (
            not isinstance(event, CreatedEventModel)
            or event.originator_version != 1
            or StreamOwner.of_start(event) != portable.owner
        ):
            raise InvalidInput(
                f"{label}: must start with its own start event at version 1"
            )
        stored = self._store.stream_version(event.originator_id)
        return StreamPlan(portable.owner, stored, event)

    def _same_as_stored(self, event: EventModel, label: str) -> None:
        stored = self._reader.event_at(event.originator_id, event.originator_version)
        if stored != event:
            raise InvalidInput(
                f"{label}: the database holds a different event at version "
                f"{event.originator_version}; it is not this export's session"
            )


def _continues(
    plan: StreamPlan, portable: PortableEvent, event: EventModel, label: str
) -> None:
    """A later line of a stream: the same owner, no second start, the next version."""
    if portable.owner != plan.owner:
        raise InvalidInput(
            f"{label}: user_id {portable.user_id!r}, but the stream belongs to "
            f"{plan.owner.user_id!r}"
        )
    version = event.originator_version
    if isinstance(event, CreatedEventModel):
        raise InvalidInput(f"{label}: a start event at version {version}")
    if version != plan.last.originator_version + 1:
        raise InvalidInput(
            f"{label}: version {version} follows {plan.last.originator_version}; "
            "versions must be consecutive"
        )


def _hold_ids(plan: StreamPlan, event: EventModel, label: str) -> None:
    """Follow the ids the stream holds; InvalidInput for an id added twice, which
    the commands refuse (a later truncation or read model would take one for the
    other)."""
    if isinstance(event, Session.TranscriptTruncated):
        plan.held.difference_update(event.removed_ids)
    elif isinstance(event, QASession.QAEntryDeleted):
        plan.held.discard(event.qa_id)
    elif isinstance(event, QASession.QASessionCleared):
        plan.held.clear()
    added = (
        event.message.id
        if isinstance(event, Session.MessageAppended)
        else event.entry.id
        if isinstance(event, QASession.QAEntryAdded)
        else None
    )
    if added is None:
        return
    if added in plan.held:
        where = "message" if isinstance(event, Session.MessageAppended) else "entry"
        raise InvalidInput(
            f"{label}: payload.{where}.id: {added!r} is already in the stream "
            f"at version {event.originator_version}"
        )
    plan.held.add(added)
