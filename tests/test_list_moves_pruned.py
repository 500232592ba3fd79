"""The session index forgets a row's old sort keys (its moves, which list walks
begun earlier page by) once they are older than the time kept."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sessiontrail import SessionTrail
from sessiontrail.projections import sessions
from sessiontrail.projections.sessions import SessionsProjection


def moves(trail: SessionTrail) -> list[int]:
    """The positions of the stored moves, oldest first."""
    with trail.read_models.read() as cur:
        table = SessionsProjection.live(cur)[0].table("session_moves")
        rows = cur.execute(f"SELECT position FROM {table} ORDER BY position")
        return [int(row[0]) for row in rows.fetchall()]


def test_moves_older_than_the_time_kept_are_pruned_every_few_events(
    trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sessions, "PRUNE_EVERY", 4)
    monkeypatch.setattr(sessions, "MOVES_KEPT", timedelta(0))
    session = trail.sessions.load_or_create("s")
    trail.sessions.save(session)
    for number in range(6):  # one move each, stamped later than the one before
        session.append_message(role="user", content=f"m{number}")
        trail.sessions.save(session)
    [head] = [s.position for s in trail.projections.status() if s.name == "sessions"]
    pruned_at = head - head % 4

    assert moves(trail) == list(range(pruned_at, head + 1))
