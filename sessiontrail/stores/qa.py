"""`trail.qa`: the Q&A and trace store's calls — Q&A entries, graph context, agent
trace steps.

`user_id=None` means "default" everywhere, as that store defines it. Writes are
events on the (user, session) Q&A stream; reads come from the `qa` read model,
O(result).
"""

from __future__ import annotations

from pydantic import StrictStr

from ..domain.qa import DEFAULT_USER, QASession, new_qa_id
from ..domain.qa_values import (
    GraphElementIds,
    SessionQAEntry,
    SessionQAUpdate,
    SessionTraceStep,
    TraceStepIn,
)
from ..domain.validation import (
    Actor,
    Count,
    ItemId,
    JsonObject,
    SessionId,
    UserId,
    validated,
)
from ..domain.values import HistoryEntry
from ..infrastructure.qa_repository import QARepository
from ..projections.qa import QAReads


def _user(user_id: str | None) -> str:
    return DEFAULT_USER if user_id is None else user_id


class QAService:
    """The Q&A and trace store on the log: every mutation an event, every read a
    projection query."""

    def __init__(self, repository: QARepository, reads: QAReads) -> None:
        self._repository = repository
        self._reads = reads

    @validated
    def create_qa_entry(
        self,
        session_id: SessionId,
        question: StrictStr,
        answer: StrictStr,
        *,
        user_id: UserId | None = None,
        context: StrictStr | None = None,
        qa_id: ItemId | None = None,
        used_graph_element_ids: GraphElementIds | None = None,
        memify_metadata: JsonObject | None = None,
        actor: Actor = "runtime",
    ) -> str:
        """Store one Q&A entry; returns its id (generated when not given)."""
        entry_id = qa_id or new_qa_id()  # the same id on every attempt

        def add(qa: QASession) -> str:
            entry = qa.add_entry(
                question,
                answer,
                qa_id=entry_id,
                context=context,
                used_graph_element_ids=used_graph_element_ids,
                memify_metadata=memify_metadata,
                actor=actor,
            )
            return entry.id

        return self._repository.change(_user(user_id), session_id, add)

    @validated
    def get_latest_qa_entries(
        self,
        session_id: SessionId,
        *,
        last_n: Count,
        user_id: UserId | None = None,
    ) -> list[SessionQAEntry]:
        """The trailing `last_n` entries, oldest first; `last_n=0` gives none."""
        return self._reads.entries(_user(user_id), session_id, last_n)

    @validated
    def get_all_qa_entries(
        self, session_id: SessionId, *, user_id: UserId | None = None
    ) -> list[SessionQAEntry]:
        """Every entry, oldest first."""
        return self._reads.entries(_user(user_id), session_id, None)

    @validated
    def get_last_qa_id(
        self, session_id: SessionId, *, user_id: UserId | None = None
    ) -> str | None:
        """The newest entry's id, or None when there are no entries."""
        latest = self._reads.entries(_user(user_id), session_id, 1)
        return latest[0].id if latest else None

    @validated
    def update_qa_entry(
        self,
        session_id: SessionId,
        qa_id: ItemId,
        updates: SessionQAUpdate,
        *,
        user_id: UserId | None = None,
        actor: Actor = "user",
    ) -> bool:
        """Apply the fields `updates` gives; False, writing nothing, if no entry."""
        return self._repository.change(
            _user(user_id),
            session_id,
            lambda qa: qa.update_entry(qa_id, updates, actor=actor),
        )

    @validated
    def delete_qa_entry(
        self,
        session_id: SessionId,
        qa_id: ItemId,
        *,
        user_id: UserId | None = None,
        actor: Actor = "user",
    ) -> bool:
        """True if the entry was there and is now deleted."""
        return self._repository.change(
            _user(user_id), session_id, lambda qa: qa.delete_entry(qa_id, actor=actor)
        )

    @validated
    def delete_session(
        self,
        session_id: SessionId,
        *,
        user_id: UserId | None = None,
        actor: Actor = "user",
    ) -> bool:
        """Empty the Q&A session (entries, graph context, steps); True if it had any."""
        return self._repository.change(
            _user(user_id),
            session_id,
            lambda qa: qa.clear("delete_session", actor=actor),
        )

    @validated
    def prune(self, *, actor: Actor = "system") -> None:
        """Empty every Q&A session of every user in the log at the call (also
        those a lagging worker has not applied yet); the store keeps working after.
        Costs one write per stream with content, plus reading the log after the
        read model's position."""
        for user, session_id in self._reads.streams():
            self._repository.change(
                user, session_id, lambda qa: qa.clear("prune", actor=actor)
            )

    @validated
    def set_graph_context(
        self,
        session_id: SessionId,
        context: StrictStr,
        *,
        user_id: UserId | None = None,
        actor: Actor = "runtime",
    ) -> None:
        """Store (or overwrite) the knowledge-graph snapshot of the session."""
        self._repository.change(
            _user(user_id),
            session_id,
            lambda qa: qa.set_graph_context(context, actor=actor),
        )

    @validated
    def get_graph_context(
        self, session_id: SessionId, *, user_id: UserId | None = None
    ) -> str | None:
        return self._reads.graph_context(_user(user_id), session_id)

    @validated
    def append_agent_trace_step(
        self,
        user_id: UserId | None,
        session_id: SessionId,
        step: TraceStepIn,
        *,
        actor: Actor = "runtime",
    ) -> str:
        """Append one trace step; returns the caller's trace_id."""
        self._repository.change(
            _user(user_id), session_id, lambda qa: qa.record_step(step, actor=actor)
        )
        return step.trace_id

    @validated
    def get_agent_trace_steps(
        self,
        user_id: UserId | None,
        session_id: SessionId,
        *,
        last_n: Count | None = None,
    ) -> list[SessionTraceStep]:
        """Trace steps oldest first; the trailing `last_n` when given."""
        return self._reads.steps(_user(user_id), session_id, last_n)

    @validated
    def history(
        self, session_id: SessionId, *, user_id: UserId | None = None
    ) -> list[HistoryEntry]:
        """Every Q&A mutation of (user, session), with its actor and time."""
        return self._repository.history(_user(user_id), session_id)
