"""The audit read model: events across sessions by actor, user and time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import sessiontrail
from sessiontrail import InvalidInput, SessionTrail
from sessiontrail.domain.summaries import summarize


def activity(trail: SessionTrail) -> None:
    for session_id, user_id in (("a", "alice"), ("b", "bob")):
        session = trail.sessions.load_or_create(session_id, user_id=user_id)
        session.append_message(role="user", content=f"hi from {session_id}")
        session.edit_title(f"Title {session_id}", actor="alice-ui")
        trail.sessions.save(session)
    trail.sessions.delete("b", actor="admin")


def test_every_event_is_in_the_timeline_in_log_order(trail: SessionTrail):
    activity(trail)
    entries = trail.audit.entries().items
    assert [(e.session_id, e.event) for e in entries] == [
        ("a", "Started"),
        ("a", "MessageAppended"),
        ("a", "TitleEdited"),
        ("b", "Started"),
        ("b", "MessageAppended"),
        ("b", "TitleEdited"),
        ("b", "SessionDeleted"),
    ]
    positions = [e.position for e in entries]
    assert positions == sorted(positions)
    assert entries[2].summary == "title → 'Title a' (v1)"
    assert entries[2].actor == "alice-ui"


def test_timeline_matches_each_sessions_history(trail: SessionTrail):
    activity(trail)
    for session_id in ("a", "b"):
        history = trail.sessions.history(session_id)
        audit = trail.audit.entries(session_id=session_id).items
        assert [(h.version, h.event, h.actor, h.timestamp) for h in history] == [
            (e.version, e.event, e.actor, e.timestamp) for e in audit
        ]


def test_an_entry_of_a_message_summarises_it_as_the_sessions_history_does(
    trail: SessionTrail,
):
    session = trail.sessions.load_or_create("m", user_id="alice")
    session.append_message(role="user", content="line one\nline two " + "x" * 80)
    session.append_message(
        role="assistant",
        content="",
        tool_calls=[{"id": "c1", "name": "lookup", "arguments": {"q": "x"}}],
    )
    trail.sessions.save(session)

    history = trail.sessions.history("m")
    audit = trail.audit.entries(session_id="m").items
    assert [e.summary for e in audit] == [
        summarize(h.event, h.payload) for h in history
    ]
    assert audit[2].summary == "assistant: (tool call)"


def test_filters_by_actor_user_and_time(trail: SessionTrail):
    before = datetime.now(tz=UTC)
    activity(trail)
    after = datetime.now(tz=UTC)

    by_actor = trail.audit.entries(actor="alice-ui").items
    assert [e.session_id for e in by_actor] == ["a", "b"]
    assert {e.user_id for e in trail.audit.entries(user_id="bob").items} == {"bob"}
    assert trail.audit.entries(actor="admin").items[0].event == "SessionDeleted"
    assert len(trail.audit.entries(since=before, until=after).items) == 7
    assert trail.audit.entries(since=after + timedelta(seconds=1)).items == []
    assert trail.audit.entries(until=before).items == []


def test_pages_resume_after_the_last_position(trail: SessionTrail):
    activity(trail)
    first = trail.audit.entries(limit=4)
    assert len(first.items) == 4 and first.next_after is not None
    rest = trail.audit.entries(limit=4, after=first.next_after)
    assert len(rest.items) == 3 and rest.next_after is None
    assert [e.position for e in first.items + rest.items] == [
        e.position for e in trail.audit.entries().items
    ]


def test_naive_times_are_rejected(trail: SessionTrail):
    with pytest.raises(InvalidInput, match="since"):
        trail.audit.entries(since=datetime(2026, 1, 1))


def test_an_erasure_stays_in_the_timeline_through_a_rebuild(url: str):
    """Who erased whom, and when, is in the timeline (no session, no content),
    survives the user's own entries being erased, and a rebuild shows it again."""
    with sessiontrail.connect(url, key=sessiontrail.new_key()) as trail:
        activity(trail)
        trail.erase_user("bob", actor="dpo")
        for rebuilt in (False, True):
            if rebuilt:
                trail.projections.rebuild("audit")
            [erased] = trail.audit.entries(actor="dpo").items
            assert (erased.session_id, erased.user_id, erased.event) == (
                "",
                "bob",
                "UserErased",
            )
            assert erased.summary == "user erased: their data key destroyed"
            bob = trail.audit.entries(user_id="bob").items
            assert [e.event for e in bob][-1] == "UserErased"
            assert bob[1].summary == "user: [erased]"
