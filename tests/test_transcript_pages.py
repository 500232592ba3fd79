"""The transcript read model: pages of messages by position, never a replay."""

from __future__ import annotations

import pytest

from sessiontrail import InvalidInput, SessionNotFound, SessionTrail


def chat(trail: SessionTrail, count: int, session_id: str = "chat") -> list[str]:
    session = trail.sessions.load_or_create(session_id, user_id="alice")
    for number in range(count):
        session.append_message(role="user", content=f"m{number}", id=f"id{number}")
    trail.sessions.save(session)
    return [f"m{number}" for number in range(count)]


def contents(page_items: list) -> list[str]:
    return [message.content for message in page_items]


def test_last_n_gives_the_trailing_messages_oldest_first(trail: SessionTrail):
    chat(trail, 30)
    page = trail.sessions.messages("chat", last_n=5)
    assert contents(page.items) == [f"m{n}" for n in range(25, 30)]
    assert page.before is not None


def test_paging_back_walks_the_whole_transcript(trail: SessionTrail):
    expected = chat(trail, 23)
    pages = [trail.sessions.messages("chat", last_n=10)]
    while pages[-1].before is not None:
        pages.append(trail.sessions.messages("chat", before=pages[-1].before, limit=10))
    assert [len(page.items) for page in pages] == [10, 10, 3]
    walked = [c for page in reversed(pages) for c in contents(page.items)]
    assert walked == expected


def test_no_bound_gives_everything_and_zero_gives_nothing(trail: SessionTrail):
    expected = chat(trail, 4)
    assert contents(trail.sessions.messages("chat").items) == expected
    assert trail.sessions.messages("chat", last_n=0).items == []


def test_pages_equal_the_stored_messages(trail: SessionTrail):
    chat(trail, 3)
    stored = trail.sessions.load("chat")
    assert stored is not None
    assert trail.sessions.messages("chat").items == stored.messages


def test_truncation_removes_messages_from_pages_and_counts(trail: SessionTrail):
    chat(trail, 6)
    session = trail.sessions.load("chat")
    assert session is not None
    session.truncate(2)
    session.append_message(role="assistant", content="after")
    trail.sessions.save(session)

    assert contents(trail.sessions.messages("chat").items) == ["m0", "m1", "after"]
    summary = trail.sessions.list().items[0]
    assert (summary.message_count, summary.preview) == (3, "after")
    session.truncate(0)
    trail.sessions.save(session)
    summary = trail.sessions.list().items[0]
    assert (summary.message_count, summary.preview) == (0, "")


def test_a_concurrent_append_survives_a_truncation_in_the_pages(
    trail: SessionTrail, other_trail: SessionTrail
):
    chat(trail, 3)
    stale = trail.sessions.load("chat")
    assert stale is not None
    fresh = other_trail.sessions.load("chat")
    assert fresh is not None
    fresh.append_message(role="user", content="concurrent")
    other_trail.sessions.save(fresh)
    stale.truncate(1)
    trail.sessions.save(stale)

    assert contents(trail.sessions.messages("chat").items) == ["m0", "concurrent"]
    assert trail.sessions.list().items[0].message_count == 2


def test_unknown_deleted_or_foreign_sessions_have_no_pages(trail: SessionTrail):
    chat(trail, 2)
    with pytest.raises(SessionNotFound):
        trail.sessions.messages("nope")
    with pytest.raises(SessionNotFound):
        trail.sessions.messages("chat", user_id="bob")
    assert len(trail.sessions.messages("chat", user_id="alice").items) == 2
    trail.sessions.delete("chat")
    with pytest.raises(SessionNotFound):
        trail.sessions.messages("chat")


def test_page_arguments_are_checked(trail: SessionTrail):
    chat(trail, 2)
    with pytest.raises(InvalidInput, match="last_n"):
        trail.sessions.messages("chat", last_n=-1)
    with pytest.raises(InvalidInput, match="before"):
        trail.sessions.messages("chat", before=0)
    with pytest.raises(InvalidInput, match="last_n/limit"):
        trail.sessions.messages("chat", last_n=2, limit=2)
