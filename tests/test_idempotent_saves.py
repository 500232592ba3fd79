"""A save whose commit succeeded but whose reply was lost can be retried safely."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import OperationalError

from sessiontrail import SessionTrail, StorageUnavailable


def lose_the_reply_once(trail: SessionTrail, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next insert commits, then fails as a connection dropped before the reply."""
    recorder = trail.store.recorder
    insert = recorder.insert_events

    def commit_then_fail(*args: object, **kwargs: object) -> object:
        monkeypatch.setattr(recorder, "insert_events", insert)
        insert(*args, **kwargs)
        raise OperationalError("connection lost after commit")

    monkeypatch.setattr(recorder, "insert_events", commit_then_fail)


def test_retrying_an_ambiguous_save_writes_nothing_twice(
    trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = trail.sessions.load_or_create("idem")
    s.append_message(role="user", content="hello")
    s.edit_title("Plan")
    s.set_pinned(True)
    s.set_pending_question({"tool_call_id": "q", "tool_name": "ask", "question": "?"})
    s.record_token_usage({"tokens": 5})
    lose_the_reply_once(trail, monkeypatch)
    with pytest.raises(StorageUnavailable, match="connection lost after commit"):
        trail.sessions.save(s)
    assert len(s.pending_events) == 6  # the caller cannot know it was committed
    trail.sessions.save(s)  # the retry
    history = trail.sessions.history("idem")
    assert [h.event for h in history] == [
        "Started",
        "MessageAppended",
        "TitleEdited",
        "PinChanged",
        "QuestionPending",
        "TokenUsageRecorded",
    ]
    assert s.version == 6 and s.pending_events == []


def test_an_ambiguous_save_retried_after_others_wrote_keeps_their_writes(
    trail: SessionTrail, other_trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = trail.sessions.load_or_create("idem2")
    trail.sessions.save(s)
    s.append_message(role="user", content="mine", id="m1")
    lose_the_reply_once(trail, monkeypatch)
    with pytest.raises(StorageUnavailable):
        trail.sessions.save(s)
    theirs = other_trail.sessions.load("idem2")
    theirs.append_message(role="assistant", content="theirs")
    other_trail.sessions.save(theirs)
    trail.sessions.save(s)
    assert [m.content for m in s.messages] == ["mine", "theirs"]
    assert len(trail.sessions.history("idem2")) == 3
