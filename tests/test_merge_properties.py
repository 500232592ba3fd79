"""Model-based test of merge-on-write: several handles, arbitrary interleavings.

Three independent trails on one database load, edit and save one session in any
order hypothesis picks. A small model, written from the rules (not from the code),
predicts the stored session after every save; after every step the store must equal it.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import sessiontrail
from sessiontrail import InvalidInput, Session, SessionTrail
from sessiontrail.domain.session import stream_id

MEMORY_EXAMPLES = 2
"""Memory runs this many times the profile's examples: each costs a tenth of a real
database's, and the merge rules are the same code on every backend. With the
stale-edit rule broken three ways, 100 random examples of up to 100 steps caught
every break in each of 200 tries; 50 examples missed one in up to 7 of 200."""

SESSION = "prop"
HANDLES = 3


@dataclass
class Model:
    """The stored session as the merge rules say it must be."""

    messages: list[str] = field(default_factory=list)
    title: str = ""
    pinned: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    title_version: int = 0
    metadata_version: int = 0
    question: str | None = None
    version: int = 1

    def apply_save(
        self, pending: list[Session.Event], base_metadata_version: int
    ) -> list[tuple[str, dict[str, Any]]]:
        """Apply a save; the metadata edits it drops, each as (event, what it set)."""
        edits_metadata = any(isinstance(e, Session.METADATA_EVENTS) for e in pending)
        stale = edits_metadata and base_metadata_version != self.metadata_version
        for event in pending:
            self._apply(event, stale)
        if not stale:
            return []
        return [
            (type(event).__name__, _what_it_set(event))
            for event in pending
            if isinstance(event, Session.METADATA_EVENTS)
        ]

    def apply_fresh_edit(self, key: str, value: Any) -> None:
        """`sessions.edit`: applied to the newest state, never dropped."""
        if value is None and key in self.metadata:
            del self.metadata[key]
        elif value is not None and self.metadata.get(key) != value:
            self.metadata[key] = value
        else:
            return
        self.metadata_version += 1

    def _apply(self, event: Session.Event, stale: bool) -> None:
        if isinstance(event, Session.MessageAppended):
            if event.message.id not in self.messages:
                self.messages.append(event.message.id)
        elif isinstance(event, Session.TranscriptTruncated):
            self.messages = [m for m in self.messages if m not in event.removed_ids]
        elif isinstance(event, Session.QuestionPending):
            self.question = event.question.tool_call_id
        elif isinstance(event, Session.QuestionResolved):
            if self.question == event.tool_call_id:
                self.question = None
        elif stale:
            return
        elif isinstance(event, Session.TitleEdited):
            self.title, self.title_version = event.title, self.title_version + 1
            self.metadata_version += 1
        elif isinstance(event, Session.PinChanged):
            self.pinned = event.pinned
            self.metadata_version += 1
        elif isinstance(event, Session.MetadataEdited):
            for key, value in event.changes.items():
                if value is None:
                    self.metadata.pop(key, None)
                else:
                    self.metadata[key] = value
            self.metadata_version += 1


def _what_it_set(event: Session.Event) -> dict[str, Any]:
    if isinstance(event, Session.TitleEdited):
        return {"title": event.title}
    if isinstance(event, Session.PinChanged):
        return {"pinned": event.pinned}
    assert isinstance(event, Session.MetadataEdited)
    return {"metadata": event.changes}


@dataclass
class Handle:
    """One writer: its own trail (cache included), its copy, the metadata it saw."""

    trail: SessionTrail
    session: Session
    base_metadata_version: int


def merge_machine(new_url: Callable[[], str]) -> type[RuleBasedStateMachine]:
    class MergeMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.url = new_url()
            self.handles: list[Handle] = []
            self.model = Model()

        @initialize()
        def open_handles(self) -> None:
            with sessiontrail.connect(self.url) as creator:
                creator.sessions.save(creator.sessions.load_or_create(SESSION))
            for _ in range(HANDLES):
                trail = sessiontrail.connect(self.url)
                session = trail.sessions.load(SESSION)
                assert session is not None
                self.handles.append(Handle(trail, session, session.metadata_version))

        def teardown(self) -> None:
            for handle in self.handles:
                handle.trail.close()

        handle = st.integers(0, HANDLES - 1)

        @rule(number=handle, merged=st.booleans())
        def reload(self, number: int, merged: bool) -> None:
            h = self.handles[number]
            repo = h.trail.sessions
            loaded = repo.load_merged(SESSION) if merged else repo.load(SESSION)
            assert loaded is not None
            h.session, h.base_metadata_version = loaded, loaded.metadata_version

        @rule(
            number=handle,
            content=st.sampled_from("abc"),
            fixed_id=st.sampled_from([None, "x1", "x2"]),
        )
        def append(self, number: int, content: str, fixed_id: str | None) -> None:
            session = self.handles[number].session
            if fixed_id is not None and any(m.id == fixed_id for m in session.messages):
                with pytest.raises(InvalidInput):
                    session.append_message(role="user", content=content, id=fixed_id)
            else:
                session.append_message(role="user", content=content, id=fixed_id)

        @rule(number=handle, title=st.sampled_from(["A", "B", "C"]))
        def edit_title(self, number: int, title: str) -> None:
            self.handles[number].session.edit_title(title)

        @rule(number=handle, pinned=st.booleans())
        def set_pinned(self, number: int, pinned: bool) -> None:
            self.handles[number].session.set_pinned(pinned)

        @rule(
            number=handle,
            key=st.sampled_from(["k1", "k2"]),
            value=st.sampled_from([None, 1, "v"]),
        )
        def update_metadata(self, number: int, key: str, value: Any) -> None:
            self.handles[number].session.update_metadata({key: value})

        @rule(number=handle, call=st.sampled_from(["q1", "q2"]))
        def ask(self, number: int, call: str) -> None:
            self.handles[number].session.set_pending_question(
                {"tool_call_id": call, "tool_name": "ask", "question": f"{call}?"}
            )

        @rule(number=handle)
        def answer(self, number: int) -> None:
            self.handles[number].session.resolve_question()

        @rule(number=handle, keep=st.integers(0, 4))
        def truncate(self, number: int, keep: int) -> None:
            self.handles[number].session.truncate(keep)

        @precondition(lambda self: self.handles)
        @rule(number=handle)
        def save(self, number: int) -> None:
            h = self.handles[number]
            pending = list(h.session.pending_events)
            before = self.stored().version
            result = h.trail.sessions.save(h.session)
            expected_drops = self.model.apply_save(pending, h.base_metadata_version)
            reported = [(edit.edit, edit.changes) for edit in result.dropped]
            assert reported == expected_drops
            assert bool(result) == bool(expected_drops)
            history = h.trail.sessions.history(SESSION)
            for edit in result.dropped:  # the log keeps each attempt, by version
                entry = history[edit.version - 1]
                assert entry.event == "EditDropped"
                assert (entry.payload["edit"], entry.payload["changes"]) == (
                    edit.edit,
                    edit.changes,
                )
            stored = self.stored()
            assert stored.version >= before
            assert not h.session.pending_events
            if pending:  # a save that wrote leaves the caller holding the merged head
                assert h.session.version == stored.version
                assert h.session.to_state() == stored.to_state()
            h.base_metadata_version = h.session.metadata_version
            self.model.version = stored.version

        @precondition(lambda self: self.handles)
        @rule(
            number=handle,
            key=st.sampled_from(["k1", "k2"]),
            value=st.sampled_from([None, 1, "v"]),
        )
        def edit_now(self, number: int, key: str, value: Any) -> None:
            """A person's edit made now (not on the handle's copy) always lands."""
            self.handles[number].trail.sessions.edit(SESSION, metadata={key: value})
            self.model.apply_fresh_edit(key, value)
            self.model.version = self.stored().version

        def stored(self) -> Session:
            session = self.handles[0].trail.store.load(stream_id(SESSION))
            assert session is not None
            return session

        @precondition(lambda self: self.handles)
        @invariant()
        def store_equals_model(self) -> None:
            s, m = self.stored(), self.model
            assert [message.id for message in s.messages] == m.messages
            assert (s.title, s.pinned, s.metadata) == (m.title, m.pinned, m.metadata)
            assert (s.title_version, s.metadata_version) == (
                m.title_version,
                m.metadata_version,
            )
            question = s.pending_question.tool_call_id if s.pending_question else None
            assert question == m.question
            assert s.version == m.version

    return MergeMachine


@pytest.mark.parametrize("backend", ["memory", "sqlite", "postgres"])
def test_merge_on_write_matches_the_model(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    def new_url() -> str:
        if backend == "memory":
            return f"memory://{uuid.uuid4().hex}"
        if backend == "sqlite":
            return f"sqlite:///{tempfile.mkdtemp(dir=tmp_path)}/trail.db"
        server = request.getfixturevalue("postgres_server")
        return str(server.url(server.new_schema()))

    chosen = settings()  # the profile: ci, or slow with --slow
    if backend == "memory":
        chosen = settings(chosen, max_examples=MEMORY_EXAMPLES * chosen.max_examples)
    run_state_machine_as_test(merge_machine(new_url), settings=chosen)
