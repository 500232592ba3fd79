"""A process killed during `retention apply` leaves each session expired or
untouched, nothing outside the policy changed, and the next run finishes."""

from __future__ import annotations

import multiprocessing
import signal
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from support.deadlines import wait_until

from sessiontrail import SessionTrail, connect
from sessiontrail.domain.session import stream_id

EXPIRED = 120
BATCH = 10


def apply_retention(url: str) -> None:
    """The killed process: one sweep in small batches."""
    with connect(url) as trail:
        trail.retention.apply(batch=BATCH)


def write(trail: SessionTrail, session_id: str, days_ago: float, **kw: str) -> None:
    with freeze_time(datetime.now(UTC) - timedelta(days=days_ago)):
        session = trail.sessions.load_or_create(session_id, **kw)
        session.append_message(role="user", content=f"hello from {session_id}")
    trail.sessions.save(session)


def deleted(trail: SessionTrail, session_id: str) -> bool:
    """Whether the log holds the session's soft delete (read from the log)."""
    session = trail.store.load(stream_id(session_id))
    assert session is not None, f"{session_id} lost its records"
    return session.deleted


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kill_9_mid_apply_then_resume_expires_exactly_the_policy(
    trail: SessionTrail,
) -> None:
    old = [f"old-{n:03}" for n in range(EXPIRED)]
    for n, session_id in enumerate(old):
        write(trail, session_id, days_ago=200 - n / 10)  # old-000 is the oldest
    kept = ["young-1", "young-2"]
    for session_id in kept:
        write(trail, session_id, days_ago=1)
    write(trail, "alice-old", days_ago=200, user_id="alice")
    kept.append("alice-old")
    trail.retention.set(30)
    trail.retention.set(365, user_id="alice")
    versions = {s: trail.store.load(stream_id(s)).version for s in kept}  # type: ignore[union-attr]

    sweeper = multiprocessing.get_context("spawn").Process(
        target=apply_retention, args=(trail.url,)
    )
    sweeper.start()
    wait_until(lambda: deleted(trail, old[BATCH - 1]), "the first batch expired")
    sweeper.kill()
    sweeper.join(timeout=30)
    assert sweeper.exitcode == -signal.SIGKILL, "the sweep ended by itself"

    done = [s for s in old if deleted(trail, s)]
    assert BATCH <= len(done) < EXPIRED
    assert done == old[: len(done)], "expired out of order: a session was skipped"
    for session_id in old:  # each is whole: deleted or live, and readable
        assert trail.sessions.history(session_id)[1].event == "MessageAppended"
    assert trail.verify().ok

    resumed = trail.retention.apply(batch=BATCH)
    assert [e.session_id for e in resumed.expired] == old[len(done) :]
    assert resumed.skipped == []
    assert all(deleted(trail, s) for s in old)
    assert {s: trail.store.load(stream_id(s)).version for s in kept} == versions  # type: ignore[union-attr]
    listed = {s.session_id for s in trail.sessions.list(limit=500).items}
    assert listed == set(kept)
