"""The merge rules on their own: a writer's unsaved events rebased onto a moved head."""

from __future__ import annotations

import copy

import pytest

from sessiontrail import ConcurrencyConflict, Session, SessionNotFound
from sessiontrail.domain.merge import RULES, rebase


def stored() -> Session:
    """A saved session: no pending events."""
    s = Session(session_id="m", model="gpt", user_id="alice")
    s.append_message(role="user", content="first", id="m0")
    s.collect_events()
    return s


def fork(head: Session) -> Session:
    """Another writer's copy of the same stored state."""
    return copy.deepcopy(head)


def test_appends_from_both_writers_are_kept_in_commit_order() -> None:
    head, writer = stored(), stored()
    head.append_message(role="assistant", content="theirs")
    head.collect_events()
    writer.append_message(role="user", content="mine")
    assert rebase(writer, head) == []
    assert [m.content for m in head.messages] == ["first", "theirs", "mine"]


def test_a_message_already_stored_is_not_appended_twice() -> None:
    head, writer = stored(), stored()
    writer.append_message(role="user", content="retried", id="r1")
    head.append_message(role="user", content="retried", id="r1")
    head.collect_events()
    dropped = rebase(writer, head)
    assert [type(e) for e in dropped] == [Session.MessageAppended]
    assert [m.id for m in head.messages] == ["m0", "r1"]


def test_a_skipped_messages_usage_record_is_skipped_with_it() -> None:
    """The same reply delivered by two writers at once: counted once."""
    head, writer = stored(), stored()
    for copy_of in (head, writer):
        copy_of.append_message(role="assistant", content="reply", id="r1")
        copy_of.record_token_usage({"total_tokens": 7, "message_id": "r1"})
    head.collect_events()
    writer.record_token_usage({"total_tokens": 3, "message_id": "m0"})  # kept
    writer.record_token_usage({"total_tokens": 1})

    dropped = rebase(writer, head)

    assert [type(e) for e in dropped] == [
        Session.MessageAppended,
        Session.TokenUsageRecorded,
    ]
    assert [r["total_tokens"] for r in head.token_usage] == [7, 3, 1]


def test_stale_metadata_edits_lose_to_the_stored_human_edit() -> None:
    head, writer = stored(), stored()
    head.edit_title("Human title")
    head.collect_events()
    writer.edit_title("Runtime title", actor="runtime")
    writer.set_pinned(True, actor="runtime")
    writer.append_message(role="assistant", content="reply")
    dropped = rebase(writer, head)
    assert [type(e) for e in dropped] == [Session.TitleEdited, Session.PinChanged]
    assert (head.title, head.pinned) == ("Human title", False)
    assert head.messages[-1].content == "reply"
    assert (head.title_version, head.metadata_version) == (1, 1)


def test_metadata_edits_on_an_unmoved_base_are_kept() -> None:
    head, writer = stored(), stored()
    head.append_message(role="assistant", content="theirs")
    head.collect_events()
    writer.edit_title("Mine")
    writer.set_pinned(True)
    assert rebase(writer, head) == []
    assert (head.title, head.pinned, head.title_version, head.metadata_version) == (
        "Mine",
        True,
        1,
        2,
    )


def test_metadata_edits_after_a_dropped_one_are_dropped_too() -> None:
    head, writer = stored(), stored()
    head.set_pinned(True)  # metadata_version 1 stored
    head.collect_events()
    writer.edit_title("A")  # based on 0 -> 1
    writer.update_metadata({"k": "v"})  # based on 1 -> 2: coincides with the head
    dropped = rebase(writer, head)
    assert len(dropped) == 2
    assert head.metadata == {} and head.title == ""


def test_truncation_never_removes_a_concurrent_append() -> None:
    head, writer = stored(), stored()
    head.append_message(role="assistant", content="concurrent")
    head.collect_events()
    writer.truncate(0)
    rebase(writer, head)
    assert [m.content for m in head.messages] == ["concurrent"]


def test_resolving_only_resolves_the_question_it_answered() -> None:
    head = stored()
    head.set_pending_question(
        {"tool_call_id": "q1", "tool_name": "ask", "question": "1?"}
    )
    head.collect_events()
    writer = fork(head)
    head.set_pending_question(
        {"tool_call_id": "q2", "tool_name": "ask", "question": "2?"}
    )
    head.collect_events()
    writer.resolve_question()
    dropped = rebase(writer, head)
    assert [type(e) for e in dropped] == [Session.QuestionResolved]
    assert head.pending_question is not None
    assert head.pending_question.tool_call_id == "q2"


def test_rebased_events_never_go_back_in_time() -> None:
    head, writer = stored(), stored()
    writer.append_message(role="user", content="early")
    head.append_message(role="assistant", content="late")
    head.collect_events()
    rebase(writer, head)
    stamps = [e.timestamp for e in head.pending_events]
    assert stamps[0] >= head.messages[1].created_at


def test_nothing_is_rebased_onto_a_deleted_session() -> None:
    head, writer = stored(), stored()
    head.delete()
    head.collect_events()
    writer.append_message(role="user", content="lost?")
    with pytest.raises(SessionNotFound, match="deleted meanwhile"):
        rebase(writer, head)
    assert head.pending_events == []


def test_creating_a_session_whose_id_another_user_owns_conflicts() -> None:
    head = stored()
    newcomer = Session(session_id="m", model="gpt", user_id="bob")
    newcomer.append_message(role="user", content="hi")
    with pytest.raises(ConcurrencyConflict, match="already in use"):
        rebase(newcomer, head)


def test_creating_a_session_another_writer_created_first_merges_into_it() -> None:
    head = stored()
    twin = Session(session_id="m", model="other", user_id="alice")
    twin.append_message(role="user", content="twin")
    dropped = rebase(twin, head)
    assert [type(e) for e in dropped] == [Session.Started]
    assert [m.content for m in head.messages] == ["first", "twin"]
    assert head.model == "gpt"


def test_each_dropped_metadata_edit_is_recorded_without_changing_state() -> None:
    head, writer = stored(), stored()
    head.update_metadata({"theirs": 1})
    head.collect_events()
    writer.edit_title("Mine", actor="ann")
    writer.update_metadata({"mine": 2}, actor="ann")
    rebase(writer, head)
    recorded = [
        (e.edit, e.changes, e.based_on, e.actor)
        for e in head.pending_events
        if isinstance(e, Session.EditDropped)
    ]
    assert recorded == [
        ("TitleEdited", {"title": "Mine"}, 0, "ann"),
        ("MetadataEdited", {"metadata": {"mine": 2}}, 1, "ann"),
    ]
    assert (head.title, head.metadata, head.metadata_version) == ("", {"theirs": 1}, 1)


def test_other_dropped_events_are_not_recorded_as_dropped_edits() -> None:
    head, writer = stored(), stored()
    writer.append_message(role="user", content="retried", id="r1")
    head.append_message(role="user", content="retried", id="r1")
    head.collect_events()
    rebase(writer, head)
    assert head.pending_events == []


def test_every_session_event_has_a_merge_rule() -> None:
    events = {
        cls
        for cls in vars(Session).values()
        if isinstance(cls, type)
        and issubclass(cls, Session.Event)
        and cls is not Session.Event
    }
    assert sorted(cls.__qualname__ for cls in events - set(RULES)) == []


def test_a_restore_merged_after_another_leaves_the_new_messages_under_old_ids() -> None:
    deleted = stored()
    deleted.delete()
    deleted.collect_events()
    head, writer = fork(deleted), fork(deleted)
    for restarted in (head, writer):  # each starts the session afresh
        restarted.restore()
        restarted.truncate(0)
    head.append_message(role="user", content="again", id="m0")  # an id used again
    head.collect_events()
    dropped = rebase(writer, head)
    assert [type(e) for e in dropped] == [
        Session.SessionRestored,
        Session.TranscriptTruncated,
    ]
    assert [m.content for m in head.messages] == ["again"]


def test_a_restore_merged_after_another_still_removes_its_own_new_messages() -> None:
    deleted = stored()
    deleted.delete()
    deleted.collect_events()
    head, writer = fork(deleted), fork(deleted)
    head.restore()
    head.collect_events()
    writer.restore()
    writer.append_message(role="assistant", content="draft", id="d1")
    writer.append_message(role="assistant", content="final", id="f1")
    writer.truncate(2)  # takes out its own "final"
    rebase(writer, head)
    assert [m.content for m in head.messages] == ["first", "draft"]
