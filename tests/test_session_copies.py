"""How sessions are copied (the cache, loads, merges, erasure), from a hostile
review: no caller's edit of what it is given reaches what a session decides
with, another copy or a stored event; a copy read before an erasure is never
served after it; and reading a cached session's transcript costs the same
whatever its length and however the cached copy was made."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

import sessiontrail
from sessiontrail import Message, SessionTrail
from sessiontrail.domain.log_fold import LogFold


def stored_contents(trail: SessionTrail, session_id: str) -> list[str]:
    """The transcript as the log holds it (a point-in-time read, no cache)."""
    version = len(trail.sessions.history(session_id, user_id="u"))
    then = trail.sessions.at(session_id, version=version, user_id="u")
    assert then is not None
    return [message.content for message in then.messages]


def test_dropping_the_last_message_from_the_list_given_and_replacing_drops_that_one(
    trail: SessionTrail,
) -> None:
    session = trail.sessions.load_or_create("c", user_id="u")
    for content in ["a", "b", "c"]:
        session.append_message(role="user", content=content)
    trail.sessions.save(session)

    messages = session.messages
    del messages[-1]  # the caller means: keep a and b
    session.replace_messages(messages)
    trail.sessions.save(session)

    assert stored_contents(trail, "c") == ["a", "b"]  # was: ["a", "c"]


def test_a_message_added_to_the_list_given_is_stored_by_replace_messages(
    trail: SessionTrail,
) -> None:
    session = trail.sessions.load_or_create("c", user_id="u")
    session.append_message(role="user", content="a")
    trail.sessions.save(session)

    messages = session.messages
    messages.append(Message(role="user", content="b"))
    session.replace_messages(messages)
    trail.sessions.save(session)

    assert stored_contents(trail, "c") == ["a", "b"]  # was: ["a"], no event


def test_a_callers_edit_of_a_pending_questions_options_reaches_no_later_load(
    trail: SessionTrail,
) -> None:
    session = trail.sessions.load_or_create("c", user_id="u")
    session.set_pending_question(
        {"tool_call_id": "t1", "tool_name": "ask", "question": "Go?", "options": ["y"]}
    )
    trail.sessions.save(session)
    mine = trail.sessions.load("c", user_id="u")
    assert mine is not None and mine.pending_question is not None

    with pytest.raises(TypeError, match="read-only"):
        mine.pending_question.options.append("added by one caller")

    theirs = trail.sessions.load("c", user_id="u")
    assert theirs is not None and theirs.pending_question is not None
    assert theirs.pending_question.options == ["y"]


def test_an_in_place_edit_of_metadata_never_reaches_the_stored_event(
    trail: SessionTrail,
) -> None:
    session = trail.sessions.load_or_create("c", user_id="u")
    session.update_metadata({"tags": ["a"]})
    session.metadata["tags"].append("edited in place, never a command")  # type: ignore[union-attr]
    trail.sessions.save(session)

    edits = [
        entry.payload["changes"]
        for entry in trail.sessions.history("c", user_id="u")
        if entry.event == "MetadataEdited"
    ]
    assert edits == [{"tags": ["a"]}]


def test_an_in_place_edit_of_a_new_sessions_metadata_never_reaches_its_start(
    trail: SessionTrail,
) -> None:
    given = {"tags": ["a"]}
    session = sessiontrail.Session(session_id="c", user_id="u", metadata=given)
    session.metadata["tags"].append("edited in place")  # type: ignore[union-attr]
    given["tags"].append("the caller's own dict, edited")
    trail.sessions.save(session)

    started = trail.sessions.history("c", user_id="u")[0]
    assert started.payload["metadata"] == {"tags": ["a"]}


def test_an_empty_save_of_a_copy_read_before_an_erasure_caches_none_of_it(
    trail: SessionTrail,
) -> None:
    session = trail.sessions.load_or_create("c", user_id="u")
    session.append_message(role="user", content="my secret")
    trail.sessions.save(session)
    held = trail.sessions.load("c", user_id="u")
    assert held is not None
    assert [m.content for m in held.messages] == ["my secret"]

    trail.erase_user("u")
    trail.sessions.save(held)  # nothing new: an agent saving at the end of a turn

    loaded = trail.sessions.load("c", user_id="u")
    assert loaded is not None
    assert [m.content for m in loaded.messages] != ["my secret"]


def transcript_reads(trail: SessionTrail, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each read of a stored transcript by `trail` from now on (the log's events,
    or the transcript read model's rows): what a session whose transcript is not
    in memory does when asked for it."""
    reads: list[str] = []
    store = trail.store
    events_until = store.events_until

    def counted_events(stream: Any, version: int) -> Any:
        reads.append(f"log up to {version}")
        return events_until(stream, version)

    monkeypatch.setattr(store, "events_until", counted_events)
    index = store.transcript_index
    if index is not None:
        last = index.last

        def counted_last(stream: Any, version: int, count: int) -> Any:
            reads.append(f"read model: {count} messages")
            return last(stream, version, count)

        monkeypatch.setattr(index, "last", counted_last)
    return reads


def held_session(trail: SessionTrail, length: int) -> sessiontrail.Session:
    """A saved session whose transcript this process holds (read once); past
    100 events a load starts from a snapshot, which leaves the transcript out."""
    session = trail.sessions.load_or_create("c", user_id="u")
    for number in range(length):
        session.append_message(role="user", content=f"m{number}")
    trail.sessions.save(session)
    loaded = trail.sessions.load("c", user_id="u")
    assert loaded is not None and len(loaded.messages) == length
    return session


def test_cache_hits_after_append_token_usage_read_the_transcript_once_not_the_log(
    trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    held_session(trail, 150)
    reads = transcript_reads(trail, monkeypatch)
    loaded = trail.sessions.load("c", user_id="u")
    assert loaded is not None and len(loaded.messages) == 150
    assert reads == []  # the cached copy holds the transcript

    assert trail.sessions.append_token_usage("c", {"tokens": 3}, user_id="u")
    for _ in range(3):
        loaded = trail.sessions.load("c", user_id="u")
        assert loaded is not None and len(loaded.messages) == 150

    # The cached copy is the session as appended to now: the first hit reads
    # its transcript once, from the read model; the hits after it share that.
    # (Before: the read model, then the whole log, on every hit.)
    assert reads == ["read model: 150 messages"]


LOG_AFTER_SAVE = (
    "a session loaded without its transcript asks the read model for it at the "
    "version it was loaded at, which its own save has moved past: it decodes "
    "the whole log instead"
)


def test_a_held_session_merged_on_save_reads_its_transcript_without_the_log(
    trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = held_session(trail, 150)
    assert trail.sessions.append_token_usage("c", {"tokens": 3}, user_id="u")
    reads = transcript_reads(trail, monkeypatch)

    session.append_message(role="assistant", content="the next turn")
    trail.sessions.save(session)  # another write came first: a merge

    assert [m.content for m in session.messages][-2:] == ["m149", "the next turn"]
    assert [read for read in reads if read.startswith("log")] == []


def test_each_cache_hit_after_a_save_of_a_loaded_session_reads_no_log(
    trail: SessionTrail, other_trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The usual turn of a process that did not write the session: load it
    (from a snapshot: no transcript), append, save; then each request that
    loads it shows its transcript."""
    held_session(trail, 150)
    reads = transcript_reads(other_trail, monkeypatch)
    turn = other_trail.sessions.load("c", user_id="u")
    assert turn is not None
    turn.append_message(role="assistant", content="reply")
    other_trail.sessions.save(turn)

    for _ in range(3):
        shown = other_trail.sessions.load("c", user_id="u")
        assert shown is not None and len(shown.messages) == 151

    assert [read for read in reads if read.startswith("log")] == []


def test_a_copy_of_a_fold_not_read_yet_costs_the_same_however_many_appends() -> None:
    def allocated_by_a_copy(appends: int) -> int:
        fold: LogFold[Message] = LogFold(load=list)
        message = Message(role="user", content="turn")
        for _ in range(appends):
            fold.append(message)  # a held session's turns, its transcript unread
        tracemalloc.start()
        try:
            fold.copy()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    assert allocated_by_a_copy(100_000) <= 2 * allocated_by_a_copy(10)
