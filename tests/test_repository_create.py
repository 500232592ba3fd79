"""`trail.sessions.create`: store a new session, or fail if its id is taken —
never merge into a stream another writer started (what an atomic create needs)."""

from __future__ import annotations

import pytest

from sessiontrail import ConcurrencyConflict, InvalidInput, Session, SessionTrail


def test_create_stores_a_new_session(trail: SessionTrail) -> None:
    session = Session(session_id="s", user_id="ann", title="Plan")
    trail.sessions.create(session)
    stored = trail.sessions.load("s", user_id="ann")
    assert stored is not None and (stored.title, stored.version) == ("Plan", 1)
    assert [s.session_id for s in trail.sessions.list().items] == ["s"]


def test_create_of_an_id_another_writer_took_conflicts_and_writes_nothing(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    other_trail.sessions.save(Session(session_id="s", user_id="ann", title="First"))
    with pytest.raises(ConcurrencyConflict, match="'s' is already in use"):
        trail.sessions.create(Session(session_id="s", user_id="ann", title="Second"))
    assert [e.event for e in trail.sessions.history("s")] == ["Started"]
    stored = trail.sessions.load("s")
    assert stored is not None and stored.title == "First"


def test_create_of_a_deleted_id_conflicts(trail: SessionTrail) -> None:
    trail.sessions.save(Session(session_id="s"))
    trail.sessions.delete("s")
    with pytest.raises(ConcurrencyConflict, match="already in use"):
        trail.sessions.create(Session(session_id="s"))


def test_create_refuses_a_session_already_saved(trail: SessionTrail) -> None:
    session = Session(session_id="s")
    trail.sessions.save(session)
    session.edit_title("Later")
    with pytest.raises(InvalidInput, match="session: expected a new Session"):
        trail.sessions.create(session)
    stored = trail.sessions.load("s")
    assert stored is not None and stored.title == ""
