"""The session index read model: lists, keyset cursors and offset windows."""

from __future__ import annotations

import random

import pytest

from sessiontrail import InvalidInput, SessionTrail


def make_sessions(trail: SessionTrail, count: int, user_id: str | None = None) -> None:
    for number in range(count):
        session = trail.sessions.load_or_create(
            f"s{number:03d}", model="gpt-4o", user_id=user_id
        )
        session.append_message(role="user", content=f"question {number}")
        trail.sessions.save(session)


def ids(trail: SessionTrail, **options: object) -> list[str]:
    page = trail.sessions.list(limit=1000, **options)  # type: ignore[arg-type]
    return [summary.session_id for summary in page.items]


def test_list_is_newest_first_and_shows_what_a_list_needs(trail: SessionTrail):
    make_sessions(trail, 3)
    session = trail.sessions.load("s000")
    assert session is not None
    session.append_message(role="assistant", content="  an   answer\nover lines ")
    session.edit_title("First")
    trail.sessions.save(session)

    page = trail.sessions.list()

    assert [s.session_id for s in page.items] == ["s000", "s002", "s001"]
    first = page.items[0]
    assert first.title == "First"
    assert first.message_count == 2
    assert first.preview == "an answer over lines"
    assert first.version == session.version
    assert first.model == "gpt-4o"
    assert first.updated_at == session.updated_at
    assert first.created_at == session.created_at
    assert page.next_cursor is None


def test_list_matches_the_sessions_summary(trail: SessionTrail):
    make_sessions(trail, 2, user_id="alice")
    stored = trail.sessions.load("s001")
    assert stored is not None
    assert trail.sessions.list().items[0] == stored.summary()


def test_oldest_first_order(trail: SessionTrail):
    make_sessions(trail, 3)
    assert ids(trail, order="updated_asc") == ["s000", "s001", "s002"]


def test_pinned_first_puts_pinned_sessions_on_top(trail: SessionTrail):
    make_sessions(trail, 4)
    for session_id in ("s001", "s000"):
        session = trail.sessions.load(session_id)
        assert session is not None
        session.set_pinned(True)
        trail.sessions.save(session)
    newer = trail.sessions.load("s003")
    assert newer is not None
    newer.append_message(role="user", content="newest activity")
    trail.sessions.save(newer)

    assert ids(trail, pinned_first=True) == ["s000", "s001", "s003", "s002"]
    assert ids(trail, pinned_first=True, order="updated_asc") == [
        "s001",
        "s000",
        "s002",
        "s003",
    ]


def test_a_user_sees_only_their_sessions(trail: SessionTrail):
    make_sessions(trail, 2, user_id="alice")
    other = trail.sessions.load_or_create("bob-1", user_id="bob")
    trail.sessions.save(other)

    assert ids(trail, user_id="alice") == ["s001", "s000"]
    assert ids(trail, user_id="bob") == ["bob-1"]
    assert ids(trail, user_id="carol") == []
    assert len(ids(trail)) == 3


def test_deleted_sessions_are_listed_only_when_asked(trail: SessionTrail):
    make_sessions(trail, 3)
    assert trail.sessions.delete("s001")

    assert ids(trail) == ["s002", "s000"]
    listed = trail.sessions.list(include_deleted=True).items
    assert [(s.session_id, s.deleted) for s in listed] == [
        ("s001", True),
        ("s002", False),
        ("s000", False),
    ]
    assert trail.sessions.restore("s001")
    assert ids(trail) == ["s001", "s002", "s000"]


def test_writes_through_another_trail_are_listed_at_once(
    trail: SessionTrail, other_trail: SessionTrail
):
    make_sessions(other_trail, 2)
    assert ids(trail) == ["s001", "s000"]


def test_pages_follow_each_other_without_overlap(trail: SessionTrail):
    make_sessions(trail, 7)
    seen: list[str] = []
    page = trail.sessions.list(limit=3)
    seen += [s.session_id for s in page.items]
    while page.next_cursor is not None:
        page = trail.sessions.list(limit=3, cursor=page.next_cursor)
        seen += [s.session_id for s in page.items]
    assert seen == [f"s{n:03d}" for n in reversed(range(7))]


@pytest.mark.parametrize("pinned_first", [False, True])
def test_a_walk_yields_each_session_once_while_writers_reorder_the_list(
    trail: SessionTrail, other_trail: SessionTrail, pinned_first: bool
):
    make_sessions(trail, 40, user_id="alice")
    rng = random.Random(7)
    walked: list[str] = []
    jumped_ahead = 0

    def reorder() -> None:
        """Another process moves not-yet-listed sessions to the top, adds one."""
        nonlocal jumped_ahead
        for _ in range(3):
            session_id = f"s{rng.randrange(40):03d}"
            jumped_ahead += session_id not in walked
            session = other_trail.sessions.load(session_id)
            assert session is not None
            if rng.random() < 0.4:
                session.set_pinned(not session.pinned)
            else:
                session.append_message(role="assistant", content="moved")
            other_trail.sessions.save(session)
        other_trail.sessions.save(
            other_trail.sessions.load_or_create(f"new{len(walked)}", user_id="alice")
        )

    page = trail.sessions.list(user_id="alice", limit=6, pinned_first=pinned_first)
    walked += [s.session_id for s in page.items]
    while page.next_cursor is not None:
        reorder()
        page = trail.sessions.list(
            user_id="alice", limit=6, cursor=page.next_cursor, pinned_first=pinned_first
        )
        walked += [s.session_id for s in page.items]

    assert sorted(walked) == [f"s{n:03d}" for n in range(40)]
    assert jumped_ahead > 5, "sessions must have jumped ahead of the cursor"


def test_a_cursor_only_continues_the_list_it_came_from(trail: SessionTrail):
    make_sessions(trail, 3)
    cursor = trail.sessions.list(limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidInput, match="cursor"):
        trail.sessions.list(limit=1, cursor=cursor, order="updated_asc")
    with pytest.raises(InvalidInput, match="cursor"):
        trail.sessions.list(limit=1, cursor="not-a-cursor")


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_page_size_is_checked(trail: SessionTrail, limit: int):
    with pytest.raises(InvalidInput, match="limit"):
        trail.sessions.list(limit=limit)


def test_unknown_order_is_rejected(trail: SessionTrail):
    with pytest.raises(InvalidInput, match="order"):
        trail.sessions.list(order="title")  # type: ignore[arg-type]


def test_offset_windows_clamp_like_the_records_store(trail: SessionTrail):
    make_sessions(trail, 5)
    window = trail.sessions.list_paginated(offset=1, limit=2)
    assert [s.session_id for s in window] == ["s003", "s002"]
    assert len(trail.sessions.list_paginated()) == 5
    assert [s.session_id for s in trail.sessions.list_paginated(offset=4)] == ["s000"]
    assert trail.sessions.list_paginated(offset=5) == []
    assert trail.sessions.list_paginated(offset=99, limit=3) == []
    assert trail.sessions.list_paginated(limit=0) == []
    with pytest.raises(InvalidInput, match="offset"):
        trail.sessions.list_paginated(offset=-1)
