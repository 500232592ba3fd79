"""The QASession aggregate guards its own rules, with no trail: each command
checks its input before any event exists, and replaying an event only assigns."""

from __future__ import annotations

import pytest

from sessiontrail import InvalidInput
from sessiontrail.domain.qa import QASession
from sessiontrail.domain.qa_values import (
    GraphElementIds,
    SessionQAUpdate,
    SessionTraceStep,
)


@pytest.fixture
def qa() -> QASession:
    """A Q&A session holding one entry, `e1`."""
    started = QASession.start("ann", "chat")
    started.add_entry("Capital of France?", "Paris", qa_id="e1")
    return started


def test_an_entry_id_already_in_the_session_is_refused(qa: QASession) -> None:
    with pytest.raises(InvalidInput, match="qa_id: 'e1' is already an entry"):
        qa.add_entry("Again?", "No", qa_id="e1")
    assert len(qa.pending_events) == 2
    assert qa.entries["e1"].answer == "Paris"


def test_an_added_entry_belongs_to_the_sessions_user_and_session(
    qa: QASession,
) -> None:
    entry = qa.add_entry("And Spain?", "Madrid")
    assert (entry.user_id, entry.session_id) == ("ann", "chat")
    assert qa.entries[entry.id] == entry


def test_an_update_out_of_range_is_refused_naming_the_field(qa: QASession) -> None:
    with pytest.raises(InvalidInput, match="feedback_score"):
        qa.update_entry("e1", {"feedback_score": 9})
    assert len(qa.pending_events) == 2


def test_an_update_of_a_field_entries_lack_is_refused_naming_it(
    qa: QASession,
) -> None:
    with pytest.raises(InvalidInput, match="colour"):
        qa.update_entry("e1", {"colour": "red"})
    assert len(qa.pending_events) == 2


def test_an_update_records_only_the_fields_that_change(qa: QASession) -> None:
    assert qa.update_entry("e1", SessionQAUpdate(answer="Paris", feedback_score=5))
    event = qa.pending_events[-1]
    assert isinstance(event, QASession.QAEntryUpdated)
    assert event.json_payload() == {"qa_id": "e1", "changes": {"feedback_score": 5}}
    assert qa.entries["e1"].feedback_score == 5


def test_an_update_of_an_unknown_entry_records_nothing(qa: QASession) -> None:
    assert qa.update_entry("e2", SessionQAUpdate(feedback_score=5)) is False
    assert len(qa.pending_events) == 2


def test_replaying_an_update_assigns_the_recorded_values(qa: QASession) -> None:
    ids = GraphElementIds(node_ids=["paris"])
    qa.update_entry("e1", SessionQAUpdate(used_graph_element_ids=ids))
    replayed = None
    for event in qa.pending_events:
        replayed = event.mutate(replayed)
    assert isinstance(replayed, QASession)
    [update] = [e for e in qa.pending_events if isinstance(e, QASession.QAEntryUpdated)]
    recorded = update.changes.used_graph_element_ids
    assert replayed.entries["e1"].used_graph_element_ids is recorded


def test_a_trace_step_without_an_id_is_refused(qa: QASession) -> None:
    with pytest.raises(InvalidInput, match=r"step\.trace_id"):
        qa.record_step(SessionTraceStep(trace_id=""))
    assert qa.trace_steps == []


def test_a_graph_context_must_be_text(qa: QASession) -> None:
    with pytest.raises(InvalidInput, match="context"):
        qa.set_graph_context(42)
    assert qa.graph_context is None


def test_clearing_names_why(qa: QASession) -> None:
    with pytest.raises(InvalidInput, match="reason"):
        qa.clear("because")
    assert qa.clear("prune") is True
    assert qa.entries == {}


def test_a_snapshot_restores_the_same_state(qa: QASession) -> None:
    qa.set_graph_context("(Paris)-[capital_of]->(France)")
    qa.record_step(SessionTraceStep(trace_id="t1", status="ok"))
    restored = QASession.Snapshot.take(qa).mutate(None)
    assert isinstance(restored, QASession)
    assert restored.to_state() == qa.to_state()
    assert restored.version == qa.version
