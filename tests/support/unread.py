"""A session whose copies have not read its transcript yet: what the tests of
the transcript read shared by copies start from."""

from __future__ import annotations

from sessiontrail import Session, SessionTrail


def transcript_left_out(trail: SessionTrail, user: str = "u") -> None:
    """Session "c" of `user`, long enough that a load starts from a snapshot
    (which leaves the transcript out), cached as appended to by
    append_token_usage: each load is a copy of it, its transcript not read."""
    session = trail.sessions.load_or_create("c", user_id=user)
    for number in range(150):
        session.append_message(role="user", content=f"secret {number}")
    trail.sessions.save(session)
    assert trail.sessions.append_token_usage("c", {"tokens": 3}, user_id=user)


def unread_copy(trail: SessionTrail, user: str = "u") -> Session:
    """A load of "c" that has not read its transcript yet."""
    copy = trail.sessions.load("c", user_id=user)
    assert copy is not None and not copy._messages.loaded
    return copy


def contents(session: Session) -> list[str]:
    return [message.content for message in session.messages]
