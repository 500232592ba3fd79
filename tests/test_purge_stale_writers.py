"""A writer that loaded a session before it was purged: its save never lands in
whatever the id holds afterwards (a new session, anyone's) and never reads as a
broken chain; it is told the session was purged, and nothing is written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sessiontrail import SessionTrail
from sessiontrail.domain.errors import SessionNotFound
from sessiontrail.domain.session import Session
from sessiontrail.infrastructure import purge_watch
from sessiontrail.infrastructure.event_store import SNAPSHOT_INTERVAL


def started(trail: SessionTrail, user: str, *contents: str) -> Session:
    """Store chat-7 for `user` with these messages; the stored session."""
    session = trail.sessions.load_or_create("chat-7", user_id=user)
    for content in contents:
        session.append_message(role="user", content=content)
    trail.sessions.save(session)
    return session


def loaded(trail: SessionTrail) -> Session:
    """Alice's chat-7 as a writer of `trail` holds it."""
    session = trail.sessions.load("chat-7", user_id="alice")
    assert session is not None
    return session


def stored_contents(trail: SessionTrail) -> tuple[str | None, list[str]]:
    stored = trail.store.load(started_stream(trail))
    assert stored is not None
    return stored.user_id, [m.content for m in stored.messages]


def started_stream(trail: SessionTrail) -> Any:
    return trail.store.ids.stream("chat-7")


def before_first_call(obj: object, name: str, action: Callable[[], object]) -> None:
    """Run `action` once, right before the first call of `obj.name` (holds a race
    at that point: what another process does there, done there every time)."""
    original = getattr(obj, name)
    done: list[bool] = []

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not done:
            done.append(True)
            action()
        return original(*args, **kwargs)

    setattr(obj, name, wrapped)


def after_first_call(obj: object, name: str, action: Callable[[], object]) -> None:
    """Run `action` once, right after the first call of `obj.name` returns."""
    original = getattr(obj, name)
    done: list[bool] = []

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = list(original(*args, **kwargs))
        if not done:
            done.append(True)
            action()
        return result

    setattr(obj, name, wrapped)


def test_a_stale_writer_does_not_write_into_another_users_new_session_of_that_id(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    started(trail, "alice", "one")
    stale = loaded(trail)
    other_trail.sessions.purge("chat-7", user_id="alice", actor="dpo")
    started(other_trail, "bob", "bob one")

    stale.append_message(role="user", content="ALICE PRIVATE")
    with pytest.raises(SessionNotFound, match="was purged"):
        trail.sessions.save(stale)

    assert stored_contents(other_trail) == ("bob", ["bob one"])


def test_a_stale_writer_does_not_write_into_a_longer_new_session_of_its_user(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    started(trail, "alice", "one")
    stale = loaded(trail)
    other_trail.sessions.purge("chat-7")
    started(other_trail, "alice", "new one", "new two", "new three")

    stale.append_message(role="user", content="from before the purge")
    with pytest.raises(SessionNotFound, match="was purged"):
        trail.sessions.save(stale)

    assert stored_contents(other_trail) == (
        "alice",
        ["new one", "new two", "new three"],
    )


def test_an_edit_whose_head_was_purged_and_started_again_is_not_made_on_the_new_one(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    """The edit reads the head, then (held here) the session is purged and a new
    one started under its id before the edit's append."""
    started(trail, "alice", "one")

    def purge_and_start_again() -> None:
        other_trail.sessions.purge("chat-7")
        started(other_trail, "alice", "new one")

    before_first_call(trail.store, "record", purge_and_start_again)
    with pytest.raises(SessionNotFound):
        trail.sessions.edit("chat-7", title="meant for the old one", user_id="alice")

    stored = other_trail.store.load(started_stream(other_trail))
    assert stored is not None and stored.title == ""


def test_a_save_onto_a_shorter_new_session_of_that_id_is_purged_not_a_broken_chain(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    started(trail, "alice", "one", "two", "three")
    stale = loaded(trail)
    other_trail.sessions.purge("chat-7")
    started(other_trail, "alice")  # only its start: shorter than the stale copy

    stale.append_message(role="user", content="four")
    with pytest.raises(SessionNotFound, match="was purged"):
        trail.sessions.save(stale)
    assert stored_contents(other_trail) == ("alice", [])


def test_a_purge_after_a_conflicting_save_reread_its_head_is_purged_not_a_broken_chain(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    """The save meets another writer's append, reads the new head, and (held
    here) the session is purged before it checks whether its events landed."""
    started(trail, "alice", "one")
    stale = loaded(trail)
    other_trail.sessions.edit("chat-7", title="moved on")

    before_first_call(
        trail.store, "holds", lambda: other_trail.sessions.purge("chat-7")
    )
    stale.append_message(role="user", content="two")
    with pytest.raises(SessionNotFound, match="was purged"):
        trail.sessions.save(stale)
    assert not trail.store.has_stream(started_stream(trail))


def test_a_process_that_wrote_a_purged_session_can_write_the_new_one_of_that_id(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    """It remembered the old stream's head at a version the new one reuses."""
    started(trail, "alice", "one")
    other_trail.sessions.purge("chat-7")
    started(other_trail, "alice", "new one")

    edited = trail.sessions.edit("chat-7", title="renamed", user_id="alice")

    assert (edited.title, [m.content for m in edited.messages]) == (
        "renamed",
        ["new one"],
    )


def test_a_purge_while_a_conflicting_save_rereads_its_head_is_purged_not_a_broken_chain(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    """The save meets another writer's append and reloads the head from its
    snapshot; (held here) the purge commits between reading the snapshot and
    reading the events after it."""
    started(trail, "alice", *(f"message {n}" for n in range(SNAPSHOT_INTERVAL)))
    stale = loaded(trail)
    assert trail.store.snapshots is not None
    other_trail.sessions.edit("chat-7", title="moved on")

    after_first_call(
        trail.store.snapshots, "get", lambda: other_trail.sessions.purge("chat-7")
    )
    stale.append_message(role="user", content="one more")
    with pytest.raises(SessionNotFound, match="was purged"):
        trail.sessions.save(stale)
    assert not trail.store.has_stream(started_stream(trail))


@pytest.fixture
def purges_seen_late(monkeypatch: pytest.MonkeyPatch) -> None:
    """Other processes' purges reach this one's cache only after an hour: what
    evicts a copy in these tests is the save that met the purge."""
    monkeypatch.setattr(purge_watch, "PURGE_CHECK_SECONDS", 3600.0)


def written_while_purged(trail: SessionTrail, other_trail: SessionTrail) -> Session:
    """A copy `trail` caches, with a message added after another process purged it."""
    started(trail, "alice", "one")
    stale = loaded(trail)
    other_trail.sessions.purge("chat-7")
    stale.append_message(role="user", content="two")
    return stale


@pytest.mark.usefixtures("purges_seen_late")
def test_a_save_that_finds_its_session_purged_drops_the_cached_copy(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    stale = written_while_purged(trail, other_trail)
    with pytest.raises(SessionNotFound, match="was purged"):
        trail.sessions.save(stale)

    again = trail.sessions.load_or_create("chat-7", user_id="alice")

    assert again.messages == []
    assert [type(e) for e in again.pending_events] == [Session.Started]


@pytest.mark.usefixtures("purges_seen_late")
def test_save_and_cache_does_not_cache_a_session_found_purged(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    stale = written_while_purged(trail, other_trail)

    assert trail.sessions.save_and_cache(stale) is None

    assert trail.sessions.load("chat-7", user_id="alice") is None


def test_a_load_racing_a_purge_reads_the_session_as_gone_not_a_broken_chain(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    """The purge commits between the load's read of the snapshot and its read
    of the records after it (held here): the session reads as missing."""
    started(trail, "alice", *(f"message {n}" for n in range(SNAPSHOT_INTERVAL)))
    assert trail.store.snapshots is not None
    trail.sessions._cache.clear()  # read as a process that has not cached it

    after_first_call(
        trail.store.snapshots, "get", lambda: other_trail.sessions.purge("chat-7")
    )
    assert trail.sessions.try_load("chat-7", user_id="alice") is None
