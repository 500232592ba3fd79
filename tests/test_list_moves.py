"""A list walk pages a session changed since it began by the key it had then (its
first move after the walk began); a purge takes a session's moves with it, and
an erasure, which replays the user's sessions, writes them anew once: both find
them through the chain of the session's changes (no index of their streams)."""

from __future__ import annotations

from sessiontrail import SessionTrail
from sessiontrail.domain.session import stream_id
from sessiontrail.projections.sessions import SessionsProjection


def moved_streams(trail: SessionTrail) -> list[str]:
    """The stream of each stored move, oldest first."""
    with trail.read_models.read() as cur:
        table = SessionsProjection.live(cur)[0].table("session_moves")
        rows = cur.execute(f"SELECT stream FROM {table} ORDER BY position")
        return [str(row[0]) for row in rows.fetchall()]


def started(trail: SessionTrail, *session_ids: str, user_id: str = "u") -> None:
    for session_id in session_ids:
        session = trail.sessions.load_or_create(session_id, user_id=user_id)
        session.append_message(role="user", content="hello")
        trail.sessions.save(session)


def append(trail: SessionTrail, session_id: str, times: int) -> None:
    """`times` saves of one message each: one move per save."""
    for number in range(times):
        session = trail.sessions.load(session_id)
        assert session is not None
        session.append_message(role="user", content=f"again {number}")
        trail.sessions.save(session)


def test_a_walk_lists_a_session_changed_twice_since_it_began_once_where_it_was(
    trail: SessionTrail,
) -> None:
    started(trail, "a", "b", "c")
    first = trail.sessions.list(limit=1, order="updated_asc")
    append(trail, "b", 2)

    rest = trail.sessions.list(limit=10, order="updated_asc", cursor=first.next_cursor)

    assert [s.session_id for s in first.items + rest.items] == ["a", "b", "c"]


def test_a_purge_deletes_every_move_of_its_session_and_no_other(
    trail: SessionTrail,
) -> None:
    started(trail, "kept", "purged")
    append(trail, "kept", 2)
    append(trail, "purged", 3)

    trail.sessions.purge("purged")

    assert moved_streams(trail) == [str(stream_id("kept"))] * 3


def test_an_erasure_rewrites_the_moves_of_the_users_sessions_once(
    trail: SessionTrail,
) -> None:
    started(trail, "kept", user_id="bob")
    started(trail, "erased", user_id="alice")
    append(trail, "kept", 2)
    append(trail, "erased", 3)
    before = moved_streams(trail)

    trail.erase_user("alice")

    assert moved_streams(trail) == before
