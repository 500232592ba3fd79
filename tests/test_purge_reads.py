"""Reads racing a purge of their session: they see the stream as the purge left
it (gone, or a new session), never a broken chain or an empty transcript
passed off as the session's."""

from __future__ import annotations

from test_purge_stale_writers import after_first_call

from sessiontrail import ChecksumMismatch, SessionTrail
from sessiontrail.infrastructure.event_store import SNAPSHOT_INTERVAL


def test_a_qa_write_racing_a_purge_of_its_session_is_not_a_broken_chain(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    session = trail.sessions.load_or_create("chat-7", user_id="alice")
    session.append_message(role="user", content="hi")
    trail.sessions.save(session)
    for number in range(SNAPSHOT_INTERVAL + 1):  # a Q&A snapshot at 100
        trail.qa.create_qa_entry("chat-7", f"q{number}", "a", user_id="alice")
    assert trail.store.snapshots is not None
    after_first_call(
        trail.store.snapshots, "get", lambda: other_trail.sessions.purge("chat-7")
    )

    try:
        trail.qa.create_qa_entry("chat-7", "after", "a", user_id="alice")
    except ChecksumMismatch as exc:
        raise AssertionError(f"a purge read as a broken chain: {exc}") from None

    entries = trail.qa.get_all_qa_entries("chat-7", user_id="alice")
    assert [entry.question for entry in entries] == ["after"]
