"""Sessions whose transcript is read once for all their copies.

A session loaded without its transcript (a snapshot leaves it out), and every
copy the cache makes of it or a save re-attaches, share one read of it: the
first copy to ask reads it, the others take that read, but only while the
session is still stored and its user's key is the one it was read under. A copy
asked after a purge finds the session gone, and one asked after its user's
erasure reads the content erased, as a copy reading for itself would (from a
hostile review)."""

from __future__ import annotations

from typing import Any

import pytest
from support.unread import transcript_left_out, unread_copy

from sessiontrail import Session, SessionTrail
from sessiontrail.domain.errors import SessionNotFound, StorageUnavailable


def two_copies(trail: SessionTrail) -> tuple[Session, Session]:
    """Two loads of "c", neither of which has read its transcript yet."""
    return unread_copy(trail), unread_copy(trail)


@pytest.mark.parametrize("asked", ["messages", "token_usage"])
def test_a_copy_asked_for_its_transcript_or_usage_after_a_purge_finds_it_gone(
    trail: SessionTrail, asked: str
) -> None:
    transcript_left_out(trail)
    shown, kept = two_copies(trail)
    assert getattr(shown, asked)  # a request shows it: the copies' shared read

    trail.sessions.purge("c", user_id="u")

    # Session.attach: "Asked for after a purge of the session: SessionNotFound",
    # not what another copy read before the purge.
    with pytest.raises(SessionNotFound):
        getattr(kept, asked)


def test_an_agents_own_session_read_after_its_users_erasure_shows_nothing_erased(
    trail: SessionTrail,
) -> None:
    """An agent keeps the session it saved across turns, its transcript never
    read; a request shows the transcript from the cache; the user is erased;
    the agent's next turn reads its session's transcript."""
    transcript_left_out(trail)
    agent = trail.sessions.load("c", user_id="u")
    assert agent is not None and not agent._messages.loaded
    agent.append_message(role="assistant", content="reply")
    trail.sessions.save(agent)
    assert not agent._messages.loaded  # re-attached at its new version

    shown = trail.sessions.load("c", user_id="u")
    assert shown is not None and shown.messages[-2].content == "secret 149"

    trail.erase_user("u")

    contents = [message.content for message in agent.messages]
    # Before the check: the 150 stored messages in plaintext, as `shown` read them.
    assert not any("secret" in content for content in contents)


def test_a_copy_not_read_before_a_purge_and_a_new_start_is_not_read_as_the_new_one(
    trail: SessionTrail,
) -> None:
    """What held: a re-attached copy asked after a purge and a new session
    started under its id, as long and at the same version, is SessionNotFound
    (the chain value at its version differs), not the new session's."""
    transcript_left_out(trail)
    agent = trail.sessions.load("c", user_id="u")
    assert agent is not None
    agent.append_message(role="assistant", content="reply")
    trail.sessions.save(agent)
    count, version = agent.message_count, agent.version

    trail.sessions.purge("c", user_id="u")
    again = trail.sessions.load_or_create("c", user_id="u")
    for number in range(count):
        again.append_message(role="user", content=f"new {number}")
    while again.version < version:
        again.record_token_usage({"tokens": 1})
    trail.sessions.save(again)
    assert (again.version, again.message_count) == (version, count)

    with pytest.raises(SessionNotFound):
        agent.messages  # noqa: B018


def test_a_shared_read_that_failed_is_read_again_by_the_next_copy_that_asks(
    trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What held: a failed read of the transcript is not kept for the copies
    sharing it; the next one to ask reads it, and the failed one again after."""
    transcript_left_out(trail)
    failing, other = two_copies(trail)
    index = trail.store.transcript_index
    assert index is not None
    last, calls = index.last, []

    def last_failing_once(stream: Any, version: int, count: int) -> Any:
        calls.append(count)
        if len(calls) == 1:
            raise StorageUnavailable("read the transcript: the database is away")
        return last(stream, version, count)

    monkeypatch.setattr(index, "last", last_failing_once)
    with pytest.raises(StorageUnavailable):
        failing.messages  # noqa: B018

    assert other.messages[-1].content == "secret 149"
    assert failing.messages[-1].content == "secret 149"
    assert calls == [150, 150]  # the failure, then one read for both
