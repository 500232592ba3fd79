"""Reads racing a purge of their session: they see the stream as the purge left
it (gone, or a new session), never a broken chain or an empty transcript
passed off as the session's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from test_purge_stale_writers import after_first_call

from sessiontrail import ChecksumMismatch, SessionNotFound, SessionTrail
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


def after_first_call_of(obj: object, name: str, action: Callable[[], object]) -> None:
    """Run `action` once, right after the first call of `obj.name` returns (a
    call whose result is not an iterable to read first)."""
    original = getattr(obj, name)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        setattr(obj, name, original)
        action()
        return result

    setattr(obj, name, wrapped)


def _long_session_loaded_from_its_snapshot(trail: SessionTrail) -> None:
    """Chat `c` of 120 messages (a snapshot at 100), not in `trail`'s cache."""
    session = trail.sessions.load_or_create("c", user_id="u")
    for number in range(120):
        session.append_message(role="user", content=f"m{number}")
    trail.sessions.save(session)
    trail.sessions._cache.clear()  # a process that has not read it yet


@pytest.mark.parametrize("view", ["messages", "token_usage"])
def test_a_session_purged_after_its_load_does_not_read_an_empty_log_as_its_own(
    trail: SessionTrail, other_trail: SessionTrail, view: str
) -> None:
    """Not `messages == []` while `message_count` says 120: it is gone."""
    _long_session_loaded_from_its_snapshot(trail)
    held = trail.sessions.load("c", user_id="u")
    assert held is not None
    other_trail.sessions.purge("c", user_id="u")

    with pytest.raises(SessionNotFound, match="purged"):
        getattr(held, view)


def test_a_fork_racing_a_purge_of_its_source_is_refused_and_stores_nothing(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    _long_session_loaded_from_its_snapshot(trail)
    after_first_call_of(
        trail.store, "load", lambda: other_trail.sessions.purge("c", user_id="u")
    )

    with pytest.raises(SessionNotFound):
        trail.sessions.fork("c", new_id="f", user_id="u")

    assert other_trail.sessions.load("f", user_id="u") is None


def test_a_session_loaded_from_its_snapshot_reads_its_whole_transcript(
    trail: SessionTrail,
) -> None:
    _long_session_loaded_from_its_snapshot(trail)

    held = trail.sessions.load("c", user_id="u")

    assert held is not None
    assert [m.content for m in held.messages] == [f"m{n}" for n in range(120)]


@pytest.mark.parametrize("source", ["read model", "log"])
def test_a_session_purged_and_started_again_alike_is_not_read_as_its_own(
    trail: SessionTrail,
    other_trail: SessionTrail,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
) -> None:
    """The new session has the same version and message count: only the chain
    value tells them apart."""
    if source == "log":
        monkeypatch.setattr(trail.store, "transcript_index", None)
    _long_session_loaded_from_its_snapshot(trail)
    held = trail.sessions.load("c", user_id="u")
    assert held is not None
    other_trail.sessions.purge("c", user_id="u")
    _long_session_loaded_from_its_snapshot(other_trail)  # alike, but another

    with pytest.raises(SessionNotFound, match="purged"):
        held.messages  # noqa: B018 (read lazily: the read is the test)
