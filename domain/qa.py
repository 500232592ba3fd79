"""The Q&A session: per (user, session), Q&A entries, graph context and agent
trace steps, as one event stream of its own.

Like `Session`, it guards its own rules: each command validates its input (a bad
value is InvalidInput naming it, and no event exists), decides, and triggers an
event whose `apply` only assigns what was recorded.

It is a sibling of the chat Session's stream, keyed by (user, session): the Q&A
store owns entries by user ("default" when none is given) while a chat has one owner,
so the same session id may hold Q&A of several users; clearing one never touches
the chat, nor another user's Q&A.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal, Self
from uuid import UUID, uuid4, uuid5

from pydantic import (
    BaseModel,
    ConfigDict,
    StrictStr,
)

from .aggregate import Aggregate, AggregateSnapshot
from .errors import InvalidInput
from .event_model import CreatedEventModel, EventModel
from .personal import QA_ENTRY, TRACE_STEP, Spec
from .qa_values import (
    GraphElementIds,
    QAEntryChanges,
    SessionQAEntry,
    SessionQAUpdate,
    SessionTraceStep,
    TraceStepIn,
)
from .validation import Actor, ItemId, JsonObject, validated
from .values import utc_now

QA_NAMESPACE = UUID("0b7c53e2-61a4-5f0e-8d2c-9e4f7a1b3c55")
DEFAULT_USER = "default"


def qa_stream_id(user_id: str, session_id: str) -> UUID:
    """The Q&A stream of (user, session); the length prefix keeps pairs distinct."""
    return uuid5(QA_NAMESPACE, f"{len(user_id)}:{user_id}/{session_id}")


def new_qa_id() -> str:
    return uuid4().hex


ClearReason = Literal["delete_session", "prune"]


class QAState(BaseModel):
    """Every attribute of a QASession, typed: what its snapshot stores."""

    model_config = ConfigDict(extra="forbid")

    created_on: datetime
    modified_on: datetime
    user_id: str
    session_id: str
    entries: list[SessionQAEntry]
    graph_context: str | None
    trace_steps: list[SessionTraceStep]


class QASession(Aggregate):
    """The Q&A, graph context and trace of one (user, session)."""

    class Event(EventModel):
        """Base of every QASession event."""

    class QASessionStarted(Event, CreatedEventModel):
        user_id: str
        session_id: str

    class QAEntryAdded(Event):
        personal: ClassVar[Spec] = {"entry": QA_ENTRY}

        entry: SessionQAEntry

        def apply(self, aggregate: QASession) -> None:
            aggregate.entries[self.entry.id] = self.entry

    class QAEntryUpdated(Event):
        personal: ClassVar[Spec] = {"": ("changes",)}

        qa_id: str
        changes: QAEntryChanges

        def apply(self, aggregate: QASession) -> None:
            entry = aggregate.entries[self.qa_id]
            aggregate.entries[self.qa_id] = self.changes.applied_to(entry)

    class QAEntryDeleted(Event):
        qa_id: str

        def apply(self, aggregate: QASession) -> None:
            aggregate.entries.pop(self.qa_id, None)

    class GraphContextSet(Event):
        personal: ClassVar[Spec] = {"": ("context",)}

        context: str

        def apply(self, aggregate: QASession) -> None:
            aggregate.graph_context = self.context

    class TraceStepRecorded(Event):
        personal: ClassVar[Spec] = {"step": TRACE_STEP}

        step: SessionTraceStep

        def apply(self, aggregate: QASession) -> None:
            aggregate.trace_steps.append(self.step)

    class QASessionCleared(Event):
        """Everything emptied (delete_session or prune); the stream stays usable."""

        reason: ClearReason

        def apply(self, aggregate: QASession) -> None:
            aggregate.entries.clear()
            aggregate.graph_context = None
            aggregate.trace_steps.clear()

    class Snapshot(AggregateSnapshot):
        personal: ClassVar[Spec] = {
            "state": ("graph_context",),
            "state.entries.*": QA_ENTRY,
            "state.trace_steps.*": TRACE_STEP,
        }

        state: QAState

    def __init__(self, user_id: str, session_id: str, actor: str = "runtime") -> None:
        self.user_id = user_id
        self.session_id = session_id
        self.entries: dict[str, SessionQAEntry] = {}
        self.graph_context: str | None = None
        self.trace_steps: list[SessionTraceStep] = []

    @staticmethod
    def create_id(user_id: str, session_id: str, actor: str = "runtime") -> UUID:
        return qa_stream_id(user_id, session_id)

    @classmethod
    def start(cls, user_id: str, session_id: str) -> Self:
        """A new, empty Q&A session (not stored until recorded)."""
        return cls._create(
            cls.QASessionStarted, user_id=user_id, session_id=session_id, actor="system"
        )

    def to_state(self) -> QAState:
        """Every attribute, typed: what a snapshot stores."""
        return QAState(
            created_on=self.created_on,
            modified_on=self.modified_on,
            user_id=self.user_id,
            session_id=self.session_id,
            entries=list(self.entries.values()),
            graph_context=self.graph_context,
            trace_steps=self.trace_steps,
        )

    def _restore(self, state: QAState) -> None:
        """Take a snapshot's attributes (copies of its containers)."""
        self.user_id = state.user_id
        self.session_id = state.session_id
        self.entries = {entry.id: entry for entry in state.entries}
        self.graph_context = state.graph_context
        self.trace_steps = list(state.trace_steps)

    @property
    def has_content(self) -> bool:
        return bool(self.entries or self.graph_context is not None or self.trace_steps)

    # Commands: each validates its input, decides, and triggers its event.

    @validated
    def add_entry(
        self,
        question: StrictStr,
        answer: StrictStr,
        *,
        qa_id: ItemId | None = None,
        context: StrictStr | None = None,
        used_graph_element_ids: GraphElementIds | None = None,
        memify_metadata: JsonObject | None = None,
        actor: Actor = "runtime",
    ) -> SessionQAEntry:
        """Add a question and its answer (an id is made when none is given);
        InvalidInput if the id is already an entry here. Returns the entry."""
        entry_id = qa_id or new_qa_id()
        if entry_id in self.entries:
            raise InvalidInput(f"qa_id: {entry_id!r} is already an entry here")
        entry = SessionQAEntry(
            id=entry_id,
            session_id=self.session_id,
            user_id=self.user_id,
            question=question,
            answer=answer,
            context=context,
            created_at=utc_now(),
            used_graph_element_ids=used_graph_element_ids,
            memify_metadata=memify_metadata,
        )
        self.trigger_event(self.QAEntryAdded, entry=entry, actor=actor)
        return entry

    @validated
    def update_entry(
        self, qa_id: ItemId, updates: SessionQAUpdate, *, actor: Actor = "user"
    ) -> bool:
        """Set the fields `updates` gives, recording only those that really
        change; False (and no event) for an unknown entry."""
        entry = self.entries.get(qa_id)
        if entry is None:
            return False
        stored = entry.model_dump(mode="json")
        effective = {
            name: value
            for name, value in updates.changes().items()
            if stored.get(name) != value
        }
        if effective:
            self.trigger_event(
                self.QAEntryUpdated,
                qa_id=qa_id,
                changes=QAEntryChanges.model_validate(effective),
                actor=actor,
            )
        return True

    @validated
    def delete_entry(self, qa_id: ItemId, *, actor: Actor = "user") -> bool:
        """Delete an entry; False (and no event) for an unknown one."""
        if qa_id not in self.entries:
            return False
        self.trigger_event(self.QAEntryDeleted, qa_id=qa_id, actor=actor)
        return True

    @validated
    def set_graph_context(
        self, context: StrictStr, *, actor: Actor = "runtime"
    ) -> None:
        """Store (or replace) the knowledge-graph context; no event if unchanged."""
        if context != self.graph_context:
            self.trigger_event(self.GraphContextSet, context=context, actor=actor)

    @validated
    def record_step(self, step: TraceStepIn, *, actor: Actor = "runtime") -> None:
        """Append one agent trace step; its trace_id must not be empty."""
        if not step.trace_id:
            raise InvalidInput("step.trace_id: must not be empty")
        self.trigger_event(self.TraceStepRecorded, step=step, actor=actor)

    @validated
    def clear(self, reason: ClearReason, *, actor: Actor = "user") -> bool:
        """Empty everything; False (and no event) if there was nothing."""
        if not self.has_content:
            return False
        self.trigger_event(self.QASessionCleared, reason=reason, actor=actor)
        return True
