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
from sessiontrail.domain.retention import Action
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


def expired(trail: SessionTrail, session_id: str, action: Action) -> bool:
    """Whether the log says the session expired: soft-deleted, or purged (no
    record left); anything else must be the whole session as written."""
    session = trail.store.load(stream_id(session_id))
    if action == "purge" and session is None:
        return True
    assert session is not None, f"{session_id} lost its records"
    assert [m.content for m in session.messages] == [f"hello from {session_id}"]
    return session.deleted


@pytest.mark.parametrize("action", ["delete", "purge"])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kill_9_mid_apply_then_resume_expires_exactly_the_policy(
    trail: SessionTrail, action: Action
) -> None:
    old = [f"old-{n:03}" for n in range(EXPIRED)]
    for n, session_id in enumerate(old):
        write(trail, session_id, days_ago=200 - n / 10)  # old-000 is the oldest
    kept = ["young-1", "young-2"]
    for session_id in kept:
        write(trail, session_id, days_ago=1)
    write(trail, "alice-old", days_ago=200, user_id="alice")
    kept.append("alice-old")
    trail.retention.set(30, action=action)
    trail.retention.set(365, user_id="alice", action=action)
    versions = {s: trail.store.load(stream_id(s)).version for s in kept}  # type: ignore[union-attr]

    sweeper = multiprocessing.get_context("spawn").Process(
        target=apply_retention, args=(trail.url,)
    )
    sweeper.start()
    wait_until(
        lambda: expired(trail, old[BATCH - 1], action), "the first batch expired"
    )
    sweeper.kill()
    sweeper.join(timeout=30)
    assert sweeper.exitcode == -signal.SIGKILL, "the sweep ended by itself"

    done = [s for s in old if expired(trail, s, action)]
    assert BATCH <= len(done) < EXPIRED
    assert done == old[: len(done)], "expired out of order: a session was skipped"
    assert trail.verify().ok

    resumed = trail.retention.apply(batch=BATCH)
    assert [e.session_id for e in resumed.expired] == old[len(done) :]
    assert resumed.skipped == []
    assert all(expired(trail, s, action) for s in old)
    assert {s: trail.store.load(stream_id(s)).version for s in kept} == versions  # type: ignore[union-attr]
    listed = {s.session_id for s in trail.sessions.list(limit=500).items}
    assert listed == set(kept)
